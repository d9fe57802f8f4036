include!("common/order.rs");

fn main() {
    let _ = Order::TAGS.push(1);
}
