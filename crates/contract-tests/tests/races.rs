//! Sixteen racers per case (issue 12 item 18), in both worlds: the embedded
//! store and DynamoDB Local (+ EventBridge and S3 on moto).

mod embedded {
    contract_tests::race_tests!(contract_tests::governed_world::embedded);
}

mod aws_emulators {
    contract_tests::race_tests!(contract_tests::governed_world::aws);
}
