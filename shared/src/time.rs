//! Timestamps as stored and returned: RFC 3339, UTC, always three fractional digits so that they sort as text.

use time::macros::format_description;
use time::OffsetDateTime;

pub fn rfc3339_millis(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    let utc = at.to_offset(time::UtcOffset::UTC);
    // Only years outside 0..=9999 fail to format; fall back to Unix seconds rather than panic.
    utc.format(format).unwrap_or_else(|_| utc.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_utc_with_three_fraction_digits() {
        assert_eq!(
            rfc3339_millis(datetime!(2026-11-27 15:07:16 +01:00)),
            "2026-11-27T14:07:16.000Z"
        );
        assert_eq!(
            rfc3339_millis(datetime!(2026-11-27 15:07:16.123456 UTC)),
            "2026-11-27T15:07:16.123Z"
        );
    }
}
