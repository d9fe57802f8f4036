include!("common/order.rs");

fn main() {
    let _ = Order::ID.set(Uuid::new());
    let _ = Order::ID.set_on_insert(Uuid::new());
}
