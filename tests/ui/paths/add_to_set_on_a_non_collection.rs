include!("common/order.rs");

fn main() {
    let _ = Order::NAME.add_to_set("x");
}
