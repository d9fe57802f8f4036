include!("common/order.rs");

fn main() {
    let _ = Order::ITEMS.elem_match(Other::SKU.eq("a"));
}
