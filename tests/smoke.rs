mod common;
use common::*;
use model::Query;

#[tokio::test]
async fn smoke() {
    let conn = connection_with_indexes().await;
    let foos = conn.repo::<Foo>();
    let a = foos.insert_one(foo("a", Some(1))).await.unwrap();
    let found = foos.find(&a.id).await.unwrap();
    assert_eq!(found, a);
    let n = foos.count(Query::all()).await.unwrap();
    assert_eq!(n, 1);
    println!("{:?}", <Foo as model::Model>::json_schema());
}
