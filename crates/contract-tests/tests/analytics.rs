//! Allocation gaps, spend cards and maturity in both worlds: the embedded mode,
//! and DynamoDB Local (+ EventBridge on moto).

mod embedded {
    contract_tests::analytics_tests!(contract_tests::governed_world::embedded);
}

mod aws_emulators {
    contract_tests::analytics_tests!(contract_tests::governed_world::aws);
}
