//! `GET /api/v1/usage`: the usage report (seed 004). `year` and `month` are
//! required, unless a `from`/`to` range is given instead.

use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use eai_store::page::Page;
use eai_store::usage::{CompanyUsage, UsageFilter};
use serde::Serialize;

use utoipa::ToSchema;

use super::doc::{Errors, UsageQuery};
use super::error::ApiError;
use super::params::Params;
use super::ApiState;

/// A page of the report with the period it covers.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[serde(flatten)]
    pub page: Page<CompanyUsage>,
}

/// `month` of `year` in UTC: its first instant and the next month's.
pub fn month_range(year: i32, month: u32) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let start = |year: i32, month: u32| {
        Some(
            NaiveDate::from_ymd_opt(year, month, 1)?
                .and_hms_opt(0, 0, 0)?
                .and_utc(),
        )
    };
    let next = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    Some((start(year, month)?, start(next.0, next.1)?))
}

/// The period a query names: `year` + `month`, or `from` + `to`.
pub fn period(params: &Params) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    if let (Some(from), Some(to)) = (params.time("from")?, params.time("to")?) {
        if params.text("year").is_some() || params.text("month").is_some() {
            return Err(ApiError::bad_parameter(
                "year",
                "either year and month, or from and to",
                "both",
            ));
        }
        if from >= to {
            return Err(ApiError::bad_parameter(
                "to",
                "a time after from",
                &to.to_rfc3339(),
            ));
        }
        return Ok((from, to));
    }
    let year = params.text("year").ok_or_else(|| {
        ApiError::bad_parameter(
            "year",
            "a year such as 2026 (year and month are required)",
            "",
        )
    })?;
    let month = params.text("month").ok_or_else(|| {
        ApiError::bad_parameter(
            "month",
            "a month from 1 to 12 (year and month are required)",
            "",
        )
    })?;
    let year_number: i32 = year
        .parse()
        .ok()
        .filter(|year| (2000..=9999).contains(year))
        .ok_or_else(|| ApiError::bad_parameter("year", "a year from 2000 to 9999", &year))?;
    let month_number: u32 = month
        .parse()
        .ok()
        .filter(|month| (1..=12).contains(month))
        .ok_or_else(|| ApiError::bad_parameter("month", "a month from 1 to 12", &month))?;
    month_range(year_number, month_number)
        .ok_or_else(|| ApiError::bad_parameter("month", "a month from 1 to 12", &month))
}

/// The parameters of the report.
pub const FILTERS: [&str; 7] = ["year", "month", "from", "to", "company", "cnpj", "cursor"];

/// `GET /api/v1/usage?year=&month=` (or `from=&to=`), `company=`, `cnpj=`, `cursor=`
#[utoipa::path(get, path = "/api/v1/usage", tag = "usage", params(UsageQuery),
    responses((status = 200, description = "100 companies per page", body = UsageReport), Errors))]
pub async fn report(
    State(state): State<ApiState>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<UsageReport>, ApiError> {
    let params = Params::new(query, &FILTERS)?;
    let (from, to) = period(&params)?;
    let filter = UsageFilter {
        from,
        to,
        company: params.text("company"),
        cnpj: params.text("cnpj"),
        cursor: params.cursor()?,
    };
    let page = state.store.usage(&filter).await?;
    Ok(Json(UsageReport { from, to, page }))
}
