//! The store contract against the embedded (redb) adapter, in memory and on file.

use std::sync::Arc;

use store_embedded::EmbeddedStore;

mod embedded_in_memory {
    use super::*;
    contract_tests::store_contract_tests!(async { Arc::new(EmbeddedStore::in_memory().expect("in-memory store")) });
}

mod embedded_on_file {
    use super::*;
    contract_tests::store_contract_tests!(async {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(contract_tests::emulators::unique_name("store"));
        Arc::new(EmbeddedStore::open_home(&dir).expect("file store"))
    });
}
