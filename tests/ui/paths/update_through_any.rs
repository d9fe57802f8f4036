include!("common/order.rs");

fn main() {
    let _ = Order::ITEMS.any(Item::SKU).set("a");
}
