//! What each backend does on its own: an SQLite database needs nothing
//! installed, is created with its directory and migrated in place.

use eai_store::testing::TestDatabase;

#[tokio::test]
async fn an_sqlite_database_is_created_migrated_and_lists_its_migrations() {
    let db = TestDatabase::sqlite().await;
    assert_eq!(db.store.backend(), "sqlite");
    let applied = db.store.applied_migrations().await.expect("migrations");
    let versions: Vec<i64> = applied.iter().map(|migration| migration.version).collect();
    assert_eq!(versions, [1, 2, 3, 4], "{applied:?}");
    assert!(
        db.store
            .missing_migrations()
            .await
            .expect("missing")
            .is_empty(),
        "nothing left to apply"
    );
    let mut probe = db.store.probe();
    probe
        .check(std::time::Duration::from_secs(5))
        .await
        .expect("the file answers");
}
