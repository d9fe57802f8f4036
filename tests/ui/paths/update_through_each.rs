include!("common/order.rs");

fn main() {
    let _ = Order::ITEMS.each(Item::SKU).set("a");
}
