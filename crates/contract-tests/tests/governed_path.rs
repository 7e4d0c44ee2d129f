//! The governed path (request → approval → tasks → claim) in both worlds: the
//! embedded mode, and DynamoDB Local + EventBridge on moto.

mod embedded {
    contract_tests::governed_path_tests!(contract_tests::governed_world::embedded);
}

mod aws_emulators {
    contract_tests::governed_path_tests!(contract_tests::governed_world::aws);
}
