include!("common/order.rs");

fn main() {
    let _ = Order::NAME.push("x");
}
