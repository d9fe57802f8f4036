//! The order service's models: customers with a nested address, tags and
//! loyalty points; orders with a composite key, a status, line items,
//! totals and dates. Shared by `tests/orders.rs` and `examples/orders.rs`.
#![allow(dead_code)]

use std::collections::BTreeMap;

use model::{CompositeKey, DateTime, Model, Ordered, Projection, Schema, Uuid};
use serde::{Deserialize, Serialize};

/// A postal address, stored inside customers.
#[derive(Debug, Clone, PartialEq, Schema, Serialize, Deserialize)]
pub struct Address {
    pub street: String,
    pub city: String,
    #[serde(rename = "zip")]
    pub postal_code: String,
    /// Left out of the stored document when `None`.
    pub region: Option<String>,
}

/// A customer.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "customers", key = id)]
pub struct Customer {
    #[serde(rename = "_id")]
    pub id: Uuid,
    #[model(unique)]
    pub email: String,
    pub name: String,
    pub address: Address,
    /// A second address, when billing goes elsewhere.
    pub billing: Option<Address>,
    pub tags: Vec<String>,
    pub points: i64,
    /// Counted from the first visit: unset until then.
    pub visits: Option<i64>,
    pub referrer: Option<String>,
    /// Counts the writes: edits made from a stale read are refused.
    #[model(version)]
    #[serde(default)]
    pub version: i64,
    pub created_at: DateTime,
    pub updated_at: Option<DateTime>,
}

/// What a mailing needs of a customer: read without the rest.
#[derive(Debug, Clone, PartialEq, Projection, Deserialize)]
#[projection(model = Customer)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: String,
    pub email: String,
    pub address: Address,
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Schema, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Paid,
    Shipped,
    Cancelled,
}

/// One line of an order; stored camelCase.
#[derive(Debug, Clone, PartialEq, Schema, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    pub sku: String,
    pub quantity: i32,
    /// In cents.
    pub unit_price: i64,
    pub gift_note: Option<String>,
}

/// An order's key: the customer and the customer's order number, ordered
/// that way (so orders can be paged by key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, CompositeKey, Ordered, Serialize, Deserialize)]
pub struct OrderKey {
    pub customer: Uuid,
    pub number: i64,
}

/// An order.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(
    collection = "orders",
    key = id,
    index(keys(status, placed_at = -1)),
    index(keys(coupon), unique, partial = model::bson::doc! { "coupon": { "$exists": true } })
)]
pub struct Order {
    #[serde(rename = "_id")]
    pub id: OrderKey,
    pub status: Status,
    pub items: Vec<LineItem>,
    /// In cents.
    pub total: i64,
    pub placed_at: DateTime,
    pub shipped_at: Option<DateTime>,
    /// A single-use coupon code: unique among the orders that have one.
    pub coupon: Option<String>,
    /// Free-form labels from the shop front.
    pub labels: BTreeMap<String, String>,
    pub created_at: DateTime,
    pub updated_at: Option<DateTime>,
}

/// An order as a list shows it.
#[derive(Debug, Clone, PartialEq, Projection, Deserialize)]
#[projection(model = Order)]
#[serde(deny_unknown_fields)]
pub struct OrderRow {
    #[serde(rename = "_id")]
    pub id: OrderKey,
    pub status: Status,
    pub total: i64,
    pub placed_at: DateTime,
}

pub fn address(city: &str) -> Address {
    Address {
        street: "1 Main St".into(),
        city: city.into(),
        postal_code: "00001".into(),
        region: None,
    }
}

pub fn item(sku: &str, quantity: i32, unit_price: i64) -> LineItem {
    LineItem { sku: sku.into(), quantity, unit_price, gift_note: None }
}

pub fn customer(email: &str, city: &str, tags: &[&str]) -> CustomerInsert {
    CustomerInsert {
        id: None,
        email: email.into(),
        name: email.split('@').next().unwrap_or(email).into(),
        address: address(city),
        billing: None,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        points: 0,
        visits: None,
        referrer: None,
    }
}

pub fn order(customer: Uuid, number: i64, items: Vec<LineItem>) -> OrderInsert {
    let total = items.iter().map(|i| i64::from(i.quantity) * i.unit_price).sum();
    OrderInsert {
        id: OrderKey { customer, number },
        status: Status::Pending,
        items,
        total,
        placed_at: DateTime::from_millis(1_700_000_000_000 + number),
        shipped_at: None,
        coupon: None,
        labels: BTreeMap::new(),
    }
}
