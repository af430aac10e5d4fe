//! The business rules of EAI Worker, free of I/O: what a message means once the
//! master data it names has been read.
//!
//! The store reads rows and hands them here; these functions decide. That split
//! keeps every rule testable with plain values (and property tests), and keeps
//! the transaction code in the store short.
//!
//! # Layout
//!
//! - [`mapping`]: de/para entities, the [`Directory`] that resolves external
//!   codes and [`Outgoing`], our codes as a destination knows them.
//! - `exact`: sums and products of envelope numbers that report leaving the
//!   decimal range instead of panicking; every rule adds up through it.
//! - [`fefo`]: first-expiry-first-out allocation of one quantity over a product's lots.
//! - [`reservation`]: an ItemReserve resolved against master data and planned lot by lot.
//! - [`sale`]: a RetailSales judged against master data: every error, the warnings, the plan.
//! - [`money`]: money as exported: exactly two decimals, no thousands separator.
//! - [`remedy`]: what a person does about each error code, outbound status and dead letter.

mod exact;
pub mod fefo;
pub mod mapping;
pub mod money;
pub mod remedy;
pub mod reservation;
pub mod sale;

pub use fefo::{allocate, Allocation, LotStock, Take};
pub use mapping::{document_internal_id, Directory, Entity, Outgoing};
pub use reservation::{Plan, PlannedLine, RequestedItem, ReservationRequest};
pub use sale::{
    judge, DebtorKind, FinancialManager, ItemLot, PlannedItem, PlannedPayment, Receivable,
    ReservationInfo, ReservedLot, SaleMasterData, SalePlan, SaleProduct, SaleStatus, SaleVerdict,
};
