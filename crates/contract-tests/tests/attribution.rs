//! CUR facts, import and attribution reports in both worlds: the embedded mode,
//! and DynamoDB Local (+ EventBridge on moto).

mod embedded {
    contract_tests::attribution_tests!(contract_tests::governed_world::embedded);
}

mod aws_emulators {
    contract_tests::attribution_tests!(contract_tests::governed_world::aws);
}
