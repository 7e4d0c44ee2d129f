pub mod bus;
pub mod clock;
pub mod cur;
pub mod enforcer;
pub mod ids;
pub mod ledger;
pub mod store;

pub use bus::{DomainEvent, EventBus, EventHandler, FailedEvent, HandlerError, PublishError};
pub use clock::{Clock, FixedClock, SystemClock};
pub use cur::{CurRead, CurSource, CurSourceError};
pub use enforcer::{Enforcer, EnforcerError};
pub use ids::{IdGenerator, SequentialIds, UuidV7Ids};
pub use ledger::{FactLedger, LedgerError, Written};
pub use store::{
    Attributes, Condition, Cursor, IndexKey, Item, ItemData, ItemKey, Page, PageRequest, SkRange, Store, StoreError,
    WriteOp,
};
