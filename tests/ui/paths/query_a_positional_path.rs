include!("common/order.rs");

fn main() {
    let _ = Order::ITEMS.matched().then(Item::SKU).eq("a");
}
