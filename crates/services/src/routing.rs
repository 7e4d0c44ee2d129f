//! Which function consumes which event: declared once, here.
//!
//! `template.yaml` wires the same routes as EventBridge rules, and the local bus
//! dispatches by this table, so the two modes cannot drift apart:
//! `tests/template_routes.rs` reads the template and fails when they differ.

/// One route: events of `detail_type` go to the function whose logical id in
/// `template.yaml` is `consumer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    pub detail_type: &'static str,
    pub consumer: &'static str,
}

/// The product's routes. Functions (and their routes) arrive with the issues that
/// build them.
pub const ROUTES: &[Route] = &[
    Route { detail_type: "BusinessRequestApproved", consumer: "TaskGeneratorFunction" },
    Route { detail_type: "CurPeriodIngested", consumer: "GapDetectorFunction" },
    Route { detail_type: "ModelBlocked", consumer: "KillSwitchFunction" },
];

/// The consumers of one detail-type, in table order.
pub fn consumers_of<'a>(routes: &'a [Route], detail_type: &'a str) -> impl Iterator<Item = &'static str> + 'a {
    routes.iter().filter(move |r| r.detail_type == detail_type).map(|r| r.consumer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumers_are_found_by_detail_type() {
        let routes = [
            Route { detail_type: "A", consumer: "F1" },
            Route { detail_type: "B", consumer: "F2" },
            Route { detail_type: "A", consumer: "F3" },
        ];
        assert_eq!(consumers_of(&routes, "A").collect::<Vec<_>>(), ["F1", "F3"]);
        assert_eq!(consumers_of(&routes, "C").count(), 0);
    }
}
