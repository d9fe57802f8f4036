include!("common/order.rs");

fn main() {
    let _ = Order::TAGS.min(vec!["a".to_string()]);
}
