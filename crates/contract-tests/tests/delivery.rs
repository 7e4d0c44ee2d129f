//! Data Exports deliveries in both worlds: the embedded mode, and DynamoDB
//! Local + S3 and EventBridge on moto.

mod embedded {
    contract_tests::delivery_tests!(contract_tests::governed_world::embedded);
}

mod aws_emulators {
    contract_tests::delivery_tests!(contract_tests::governed_world::aws);
}
