include!("common/order.rs");

fn main() {
    let _ = Order::BEST.then(Other::SKU);
}
