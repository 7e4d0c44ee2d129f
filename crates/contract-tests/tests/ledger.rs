//! The fact-ledger contract on both adapters: a local folder, and S3 on moto.

use std::sync::Arc;

use fact_ledger::FsLedger;
use services::ports::FactLedger;

mod filesystem {
    use super::*;
    contract_tests::ledger_contract_tests!(async {
        let dir = tempfile::tempdir().expect("dir");
        (Arc::new(FsLedger::new(dir.path())) as Arc<dyn FactLedger>, Some(dir))
    });
}

mod s3_on_moto {
    use super::*;
    contract_tests::ledger_contract_tests!(async { (Arc::new(contract_tests::emulators::s3_ledger().await) as Arc<dyn FactLedger>, None::<()>) });
}
