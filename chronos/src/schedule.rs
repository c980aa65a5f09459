//! Schedules: when a job is due. Pure arithmetic, the clock is passed in.
//!
//! Two kinds, each with an IANA time zone:
//!
//! * **ISO 8601 repeating intervals** `R[n]/start/period` (Chronos). `R` (or
//!   `R-1`) repeats forever, `Rn` runs `n` times in all (`R0`: never), an
//!   empty start means "when the job was submitted". Occurrence `k` is
//!   `start + k × period`, always computed from the start (so `P1M` from
//!   Jan 31 gives Feb 28/29, Mar 31, Apr 30 …, never drifting to the 28th).
//!   The date part of a period (`Y`, `M`, `W`, `D`) is added to the local
//!   wall-clock date in the schedule's zone, the time part (`H`, `M`, `S`) as
//!   elapsed time, as Joda-Time does for Chronos: `P1D` stays at 02:30 local
//!   across a DST change, `PT24H` moves by an hour.
//! * **Cron** with 5 fields (Metronome): minute, hour, day of month, month,
//!   day of week (0 or 7 = Sunday, names allowed), plus `@hourly`,
//!   `@daily`, `@weekly`, `@monthly`, `@yearly`. As in Vixie cron, when both
//!   day of month and day of week are restricted a day matching either
//!   counts. Field matching is done by the `cron` crate (which wants seconds
//!   and numbers days of week from 1), on local wall-clock time.
//!
//! **Daylight saving, the rule.** Every schedule produces wall-clock times
//! in its zone; each wall-clock time fires **once**:
//! * a time that does not exist (spring forward, e.g. 02:30 when clocks
//!   jump from 02:00 to 03:00) fires at the first valid instant after the
//!   gap (03:00 local). Several times inside one gap fire once together.
//! * a time that exists twice (fall back, e.g. 01:30 when clocks go from
//!   02:00 back to 01:00) fires at its first occurrence only.
//!
//! So a daily 02:30 job runs exactly once on both change days, and an
//! hourly job does not run twice in the repeated hour.

use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// Why a schedule was rejected (the message is shown to API users).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Not `R[n]/start/period`.
    #[error("invalid ISO 8601 repeating interval '{0}': expected R[n]/[start]/period, e.g. R/2025-01-01T00:00:00Z/PT1H")]
    Iso8601(String),
    /// The period part did not parse, or is zero.
    #[error(
        "invalid ISO 8601 period '{0}': expected e.g. PT30S, P1D, P1Y2M10DT2H30M (and not zero)"
    )]
    Period(String),
    /// A part of the period is longer than a century.
    #[error("ISO 8601 period '{0}' is too long: each of its years+months, weeks+days and hours+minutes+seconds must be within 100 years")]
    PeriodTooLong(String),
    /// The start part did not parse.
    #[error("invalid ISO 8601 start '{0}': expected e.g. 2025-01-01T00:00:00Z")]
    Start(String),
    /// The cron expression did not parse.
    #[error("invalid cron expression '{expr}': {reason}")]
    Cron {
        /// The expression.
        expr: String,
        /// What is wrong.
        reason: String,
    },
    /// Not an IANA time zone name.
    #[error("unknown time zone '{0}'")]
    TimeZone(String),
}

/// The longest period part accepted, in seconds (100 years).
pub const MAX_PERIOD_SECONDS: i64 = 100 * 366 * 86_400;

/// An ISO 8601 duration, split as Joda-Time applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Whole months (years × 12 + months), added to the local date.
    pub months: i64,
    /// Whole days (weeks × 7 + days), added to the local date.
    pub days: i64,
    /// Seconds (hours, minutes, seconds), added as elapsed time.
    pub seconds: i64,
}

impl Period {
    /// Parses `PnYnMnWnDTnHnMnS` (integers; at least one non-zero part).
    pub fn parse(text: &str) -> Result<Period, ScheduleError> {
        let bad = || ScheduleError::Period(text.to_owned());
        let rest = text.strip_prefix('P').ok_or_else(bad)?;
        let (date, time) = match rest.split_once('T') {
            Some((d, t)) if !t.is_empty() => (d, Some(t)),
            Some(_) => return Err(bad()),
            None => (rest, None),
        };
        let mut p = Period {
            months: 0,
            days: 0,
            seconds: 0,
        };
        let mut any = false;
        for (part, units) in [(date, "YMWD"), (time.unwrap_or(""), "HMS")] {
            let mut number = String::new();
            let mut last_unit = 0;
            for c in part.chars() {
                if c.is_ascii_digit() {
                    number.push(c);
                    continue;
                }
                let pos = units.find(c).ok_or_else(bad)? + 1;
                if number.is_empty() || pos <= last_unit {
                    return Err(bad());
                }
                last_unit = pos;
                let too_long = || ScheduleError::PeriodTooLong(text.to_owned());
                let n: i64 = number.parse().map_err(|_| too_long())?;
                number.clear();
                any = true;
                let (field, factor) = match (units, c) {
                    ("YMWD", 'Y') => (&mut p.months, 12),
                    ("YMWD", 'M') => (&mut p.months, 1),
                    ("YMWD", 'W') => (&mut p.days, 7),
                    ("YMWD", 'D') => (&mut p.days, 1),
                    (_, 'H') => (&mut p.seconds, 3600),
                    (_, 'M') => (&mut p.seconds, 60),
                    (_, 'S') => (&mut p.seconds, 1),
                    _ => return Err(bad()),
                };
                *field = n
                    .checked_mul(factor)
                    .and_then(|x| field.checked_add(x))
                    .ok_or_else(too_long)?;
            }
            if !number.is_empty() {
                return Err(bad());
            }
        }
        if !any || (p.months == 0 && p.days == 0 && p.seconds == 0) {
            return Err(bad());
        }
        // Each part within a century: beyond it nothing can run anyway,
        // and the arithmetic on it stays far from overflow.
        if p.months > 1200 || p.days > 36_525 || p.seconds > MAX_PERIOD_SECONDS {
            return Err(ScheduleError::PeriodTooLong(text.to_owned()));
        }
        Ok(p)
    }

    /// A lower bound of its length, for jumping close to an occurrence.
    fn min_seconds(&self) -> i64 {
        let calendar = self.months * 28 * 86_400 + self.days * 86_400;
        // A calendar day may be an hour short (DST).
        let short = if calendar > 0 { 3600 } else { 0 };
        calendar - short + self.seconds
    }

    /// Whether it is pure elapsed time (no calendar part).
    fn is_fixed(&self) -> bool {
        self.months == 0 && self.days == 0
    }
}

/// A parsed `R[n]/start/period`.
#[derive(Debug, Clone, PartialEq)]
pub struct Iso8601 {
    /// Runs in all; `None` forever.
    pub repeats: Option<u64>,
    /// Local wall-clock start (in the schedule's zone); `None`: "now", i.e.
    /// the submit time the caller passes.
    pub start: Option<Start>,
    /// The interval.
    pub period: Period,
}

/// The start of an ISO 8601 schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Start {
    /// Given with an offset or `Z`: an instant (its offset is overridden by
    /// the schedule's time zone when one is set, as Chronos does).
    Instant(DateTime<chrono::FixedOffset>),
    /// Given without an offset: wall-clock time in the schedule's zone.
    Local(NaiveDateTime),
}

impl Iso8601 {
    /// Parses `R[n]/[start]/period`.
    pub fn parse(text: &str) -> Result<Iso8601, ScheduleError> {
        let parts: Vec<&str> = text.trim().split('/').collect();
        let [r, start, period] = parts.as_slice() else {
            return Err(ScheduleError::Iso8601(text.to_owned()));
        };
        let r = r
            .strip_prefix('R')
            .ok_or_else(|| ScheduleError::Iso8601(text.to_owned()))?;
        let repeats = match r {
            "" => None,
            n => Some(
                n.parse::<u64>()
                    .map_err(|_| ScheduleError::Iso8601(text.to_owned()))?,
            ),
        };
        let start = if start.is_empty() {
            None
        } else if let Ok(t) = DateTime::parse_from_rfc3339(start) {
            Some(Start::Instant(t))
        } else if let Ok(t) = DateTime::parse_from_str(start, "%Y-%m-%dT%H:%M:%S%.f%z") {
            Some(Start::Instant(t))
        } else if let Ok(t) = NaiveDateTime::parse_from_str(start, "%Y-%m-%dT%H:%M:%S%.f") {
            Some(Start::Local(t))
        } else if let Ok(t) = NaiveDateTime::parse_from_str(start, "%Y-%m-%dT%H:%M") {
            Some(Start::Local(t))
        } else {
            return Err(ScheduleError::Start((*start).to_owned()));
        };
        Ok(Iso8601 {
            repeats,
            start,
            period: Period::parse(period)?,
        })
    }
}

/// What a schedule is made of.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// ISO 8601 repeating interval.
    Iso8601(Iso8601),
    /// Cron, as one or two `cron` crate schedules (two when day of month
    /// and day of week are both restricted: either matches).
    Cron(Vec<cron::Schedule>),
}

/// A parsed schedule in its time zone, ready for arithmetic.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// What it repeats.
    pub kind: Kind,
    /// Its zone.
    pub tz: Tz,
    /// The local wall-clock time of occurrence 0 (ISO 8601 only), fixed at
    /// parse time from the start or the submit time.
    anchor: Option<NaiveDateTime>,
}

/// Parses an IANA zone name (empty: UTC).
pub fn parse_tz(name: &str) -> Result<Tz, ScheduleError> {
    if name.is_empty() {
        return Ok(Tz::UTC);
    }
    Tz::from_str(name).map_err(|_| ScheduleError::TimeZone(name.to_owned()))
}

impl Schedule {
    /// An ISO 8601 schedule; `submitted` stands in for an empty start.
    pub fn iso8601(text: &str, tz: &str, submitted: DateTime<Utc>) -> Result<Self, ScheduleError> {
        let iso = Iso8601::parse(text)?;
        // Chronos: scheduleTimeZone overrides the start's offset; with no
        // zone given, the start's offset is kept (as a fixed instant in UTC).
        let tz_given = !tz.is_empty();
        let tz = parse_tz(tz)?;
        let anchor = match iso.start {
            None => submitted.with_timezone(&tz).naive_local(),
            Some(Start::Local(t)) => t,
            Some(Start::Instant(t)) if tz_given => t.naive_local(),
            Some(Start::Instant(t)) => t.with_timezone(&tz).naive_local(),
        };
        Ok(Schedule {
            kind: Kind::Iso8601(iso),
            tz,
            anchor: Some(anchor),
        })
    }

    /// A 5-field cron schedule.
    pub fn cron(expr: &str, tz: &str) -> Result<Self, ScheduleError> {
        Ok(Schedule {
            kind: Kind::Cron(parse_cron(expr)?),
            tz: parse_tz(tz)?,
            anchor: None,
        })
    }

    /// The first time this schedule fires strictly after `after`, if any.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Iso8601(iso) => self.iso_next(iso, after),
            Kind::Cron(schedules) => schedules
                .iter()
                .filter_map(|s| self.cron_next(s, after))
                .min(),
        }
    }

    /// Every firing in `(after, until]`, at most `limit` of them.
    pub fn between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut t = after;
        while out.len() < limit {
            match self.next_after(t) {
                Some(n) if n <= until => {
                    out.push(n);
                    t = n;
                }
                _ => break,
            }
        }
        out
    }

    /// Occurrence `k` of an ISO 8601 schedule, as an instant.
    fn iso_at(&self, iso: &Iso8601, k: i64) -> Option<DateTime<Utc>> {
        let anchor = self.anchor?;
        let local = add_calendar(
            anchor,
            iso.period.months.checked_mul(k)?,
            iso.period.days.checked_mul(k)?,
        )?;
        let instant = resolve(self.tz, local);
        instant.checked_add_signed(Duration::try_seconds(iso.period.seconds.checked_mul(k)?)?)
    }

    fn iso_next(&self, iso: &Iso8601, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let first = self.iso_at(iso, 0)?;
        let k0 = if after < first {
            0
        } else {
            let elapsed = (after - first).num_seconds();
            let step = iso.period.min_seconds().max(1);
            if iso.period.is_fixed() {
                (elapsed / step).max(0)
            } else {
                (elapsed / step - 2).max(0)
            }
        };
        // A fixed period lands within one step; a calendar one within a few
        // dozen (lower bound of a month is 28 days).
        for k in k0..k0 + 10_000 {
            if iso.repeats.is_some_and(|n| k >= n as i64) {
                return None;
            }
            let t = self.iso_at(iso, k)?;
            if t > after {
                return Some(t);
            }
        }
        None
    }

    fn cron_next(&self, schedule: &cron::Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Walk wall-clock candidates from a little before `after`'s local
        // time (a fall-back hour may put earlier wall times after it), map
        // each to its instant by the DST rule; that mapping never goes
        // backwards, so the first one past `after` is the answer.
        let local = after.with_timezone(&self.tz).naive_local() - Duration::hours(3);
        let from = Utc.from_utc_datetime(&local);
        schedule
            .after(&from)
            .take(100_000)
            .map(|t| resolve(self.tz, t.naive_utc()))
            .find(|&t| t > after)
    }
}

/// The instant of a wall-clock time in `tz`, by the DST rule of this
/// module: the earlier of two, or the first valid instant after a gap.
pub fn resolve(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        LocalResult::None => {
            // In a gap: the first whole minute that exists is where the
            // clocks jumped to (transitions fall on whole minutes).
            let mut t = local
                .with_second(0)
                .and_then(|t| t.with_nanosecond(0))
                .unwrap_or(local);
            for _ in 0..(48 * 60) {
                t += Duration::minutes(1);
                match tz.from_local_datetime(&t) {
                    LocalResult::Single(x) => return x.with_timezone(&Utc),
                    LocalResult::Ambiguous(a, b) => return a.min(b).with_timezone(&Utc),
                    LocalResult::None => {}
                }
            }
            Utc.from_utc_datetime(&local)
        }
    }
}

/// Adds months (clamped to the month's last day) and days to a local time.
fn add_calendar(t: NaiveDateTime, months: i64, days: i64) -> Option<NaiveDateTime> {
    let t = if months >= 0 {
        t.checked_add_months(chrono::Months::new(u32::try_from(months).ok()?))?
    } else {
        t.checked_sub_months(chrono::Months::new(u32::try_from(-months).ok()?))?
    };
    t.checked_add_signed(Duration::try_days(days)?)
}

/// Turns a 5-field cron expression into `cron` crate schedules.
pub fn parse_cron(expr: &str) -> Result<Vec<cron::Schedule>, ScheduleError> {
    let err = |reason: &str| ScheduleError::Cron {
        expr: expr.to_owned(),
        reason: reason.to_owned(),
    };
    let expanded = match expr.trim() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other => other,
    };
    let fields: Vec<&str> = expanded.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = fields.as_slice() else {
        return Err(err(&format!(
            "expected 5 fields (minute hour day-of-month month day-of-week), got {}",
            fields.len()
        )));
    };
    let dow = day_of_week_names(dow).map_err(|r| err(&r))?;
    let build = |dom: &str, dow: &str| {
        cron::Schedule::from_str(&format!("0 {minute} {hour} {dom} {month} {dow}"))
            .map_err(|e| err(&e.to_string()))
    };
    let restricted = |f: &str| !f.starts_with('*') && f != "?";
    if restricted(dom) && restricted(&dow) {
        Ok(vec![build(dom, "*")?, build("*", &dow)?])
    } else {
        Ok(vec![build(dom, &dow)?])
    }
}

/// Rewrites a cron day-of-week field (0-7, 0 and 7 Sunday, names, ranges,
/// steps, lists) as a list of names the `cron` crate reads.
fn day_of_week_names(field: &str) -> Result<String, String> {
    const NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    if field == "*" || field == "?" {
        return Ok("*".to_owned());
    }
    let day = |s: &str| -> Result<usize, String> {
        if let Ok(n) = s.parse::<usize>() {
            return if n <= 7 {
                Ok(n % 7)
            } else {
                Err(format!("day of week {n} out of range 0-7"))
            };
        }
        NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown day of week '{s}'"))
    };
    let mut days = [false; 7];
    for item in field.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((b, s)) => (
                b,
                s.parse::<usize>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("bad step in '{item}'"))?,
            ),
            None => (item, 1),
        };
        let (lo, hi) = if base == "*" {
            (0, 6)
        } else if let Some((a, b)) = base.split_once('-') {
            let lo = day(a)?;
            // `5-7` is Friday to Sunday: keep 7 as 7 for the range.
            let hi = if b == "7" { 7 } else { day(b)? };
            if hi < lo {
                return Err(format!("backwards range '{base}'"));
            }
            (lo, hi)
        } else {
            let d = day(base)?;
            (d, if step > 1 { 6 } else { d })
        };
        let mut d = lo;
        while d <= hi {
            days[d % 7] = true;
            d += step;
        }
    }
    let names: Vec<&str> = (0..7).filter(|d| days[*d]).map(|d| NAMES[d]).collect();
    if names.is_empty() {
        return Err("no day of week".into());
    }
    Ok(names.join(","))
}

/// `2025-01-01T00:00:00.000Z`: how both APIs print instants.
pub fn format_instant(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The local calendar date of an instant, for tests and messages.
pub fn local_date(t: DateTime<Utc>, tz: Tz) -> (i32, u32, u32) {
    let l = t.with_timezone(&tz);
    (l.year(), l.month(), l.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn local(tz: Tz, t: DateTime<Utc>) -> String {
        t.with_timezone(&tz)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    }

    #[test]
    fn periods_parse() {
        let p = Period::parse("P1Y2M10DT2H30M").unwrap();
        assert_eq!((p.months, p.days, p.seconds), (14, 10, 2 * 3600 + 1800));
        assert_eq!(Period::parse("PT5S").unwrap().seconds, 5);
        assert_eq!(Period::parse("P2W").unwrap().days, 14);
        for bad in [
            "", "P", "PT", "P1H", "PT1D", "P1", "P1M1Y", "PT0S", "1D", "P-1D",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn iso_rejects_malformed() {
        let now = utc("2025-01-01T00:00:00Z");
        for bad in [
            "",
            "R",
            "R5/PT1S",
            "X/2025-01-01T00:00:00Z/PT1S",
            "Rx/2025-01-01T00:00:00Z/PT1S",
            "R/yesterday/PT1S",
            "R/2025-01-01T00:00:00Z/1S",
            "R/2025-13-01T00:00:00Z/PT1S",
        ] {
            assert!(Schedule::iso8601(bad, "", now).is_err(), "{bad}");
        }
        assert_eq!(
            Schedule::iso8601("R/2025-01-01T00:00:00Z/PT1S", "Mars/Olympus", now),
            Err(ScheduleError::TimeZone("Mars/Olympus".into()))
        );
    }

    #[test]
    fn iso_repeat_counts() {
        let now = utc("2025-01-01T00:00:00Z");
        let s = Schedule::iso8601("R3/2025-01-01T00:00:10Z/PT10S", "", now).unwrap();
        let all = s.between(now, utc("2026-01-01T00:00:00Z"), 100);
        assert_eq!(
            all,
            vec![
                utc("2025-01-01T00:00:10Z"),
                utc("2025-01-01T00:00:20Z"),
                utc("2025-01-01T00:00:30Z")
            ]
        );
        let none = Schedule::iso8601("R0/2025-01-01T00:00:10Z/PT10S", "", now).unwrap();
        assert_eq!(none.next_after(now), None);
        let forever = Schedule::iso8601("R/2025-01-01T00:00:00Z/PT1S", "", now).unwrap();
        // Far from the start it jumps straight there (fixed period).
        let later = utc("2030-06-01T12:00:00.500Z");
        assert_eq!(forever.next_after(later), Some(utc("2030-06-01T12:00:01Z")));
        // The start itself is the first run; strictly after.
        assert_eq!(
            forever.next_after(utc("2024-12-31T23:59:59Z")),
            Some(utc("2025-01-01T00:00:00Z"))
        );
        assert_eq!(
            forever.next_after(utc("2025-01-01T00:00:00Z")),
            Some(utc("2025-01-01T00:00:01Z"))
        );
    }

    #[test]
    fn iso_empty_start_is_submit_time() {
        let now = utc("2025-03-04T05:06:07Z");
        let s = Schedule::iso8601("R2//PT1H", "", now).unwrap();
        assert_eq!(
            s.between(now - Duration::seconds(1), now + Duration::days(1), 10),
            vec![now, now + Duration::hours(1)]
        );
    }

    #[test]
    fn iso_month_ends_and_leap_days() {
        let now = utc("2024-01-01T00:00:00Z");
        let s = Schedule::iso8601("R5/2024-01-31T12:00:00Z/P1M", "", now).unwrap();
        let all = s.between(now, utc("2025-01-01T00:00:00Z"), 10);
        let days: Vec<_> = all.iter().map(|t| local_date(*t, Tz::UTC)).collect();
        assert_eq!(
            days,
            vec![
                (2024, 1, 31),
                (2024, 2, 29),
                (2024, 3, 31),
                (2024, 4, 30),
                (2024, 5, 31)
            ]
        );
        let leap = Schedule::iso8601("R3/2024-02-29T00:00:00Z/P1Y", "", now).unwrap();
        let years: Vec<_> = leap
            .between(now, utc("2030-01-01T00:00:00Z"), 10)
            .iter()
            .map(|t| local_date(*t, Tz::UTC))
            .collect();
        assert_eq!(years, vec![(2024, 2, 29), (2025, 2, 28), (2026, 2, 28)]);
        let four = Schedule::iso8601("R/2024-02-29T00:00:00Z/P4Y", "", now).unwrap();
        assert_eq!(
            four.next_after(utc("2024-03-01T00:00:00Z")),
            Some(utc("2028-02-29T00:00:00Z"))
        );
    }

    #[test]
    fn iso_time_zone_overrides_offset_and_days_follow_wall_clock() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let now = utc("2025-03-01T00:00:00Z");
        // 02:30 "Z" read as 02:30 New York time, daily over spring forward
        // (2025-03-09 02:00 -> 03:00).
        let s = Schedule::iso8601("R/2025-03-07T02:30:00Z/P1D", "America/New_York", now).unwrap();
        let all: Vec<_> = s
            .between(now, utc("2025-03-12T00:00:00Z"), 10)
            .into_iter()
            .map(|t| local(tz, t))
            .collect();
        assert_eq!(
            all,
            vec![
                "2025-03-07 02:30:00 EST",
                "2025-03-08 02:30:00 EST",
                "2025-03-09 03:00:00 EDT",
                "2025-03-10 02:30:00 EDT",
                "2025-03-11 02:30:00 EDT",
            ]
        );
        // PT24H is elapsed time: it moves by the hour the clocks jumped.
        let h =
            Schedule::iso8601("R3/2025-03-08T12:00:00Z/PT24H", "America/New_York", now).unwrap();
        let all: Vec<_> = h
            .between(now, utc("2025-03-12T00:00:00Z"), 10)
            .into_iter()
            .map(|t| local(tz, t))
            .collect();
        assert_eq!(
            all,
            vec![
                "2025-03-08 12:00:00 EST",
                "2025-03-09 13:00:00 EDT",
                "2025-03-10 13:00:00 EDT"
            ]
        );
        // Without a zone the offset in the start counts.
        let off = Schedule::iso8601("R1/2025-03-07T02:30:00+01:00/P1D", "", now).unwrap();
        assert_eq!(off.next_after(now), Some(utc("2025-03-07T01:30:00Z")));
    }

    #[test]
    fn cron_basics() {
        let now = utc("2025-01-01T00:00:30Z");
        let every = Schedule::cron("* * * * *", "").unwrap();
        assert_eq!(every.next_after(now), Some(utc("2025-01-01T00:01:00Z")));
        let s = Schedule::cron("*/15 9-17 * * 1-5", "UTC").unwrap();
        // 2025-01-01 is a Wednesday.
        assert_eq!(s.next_after(now), Some(utc("2025-01-01T09:00:00Z")));
        assert_eq!(
            s.next_after(utc("2025-01-03T17:45:00Z")),
            Some(utc("2025-01-06T09:00:00Z")),
            "Friday evening -> Monday morning"
        );
        let sun = Schedule::cron("0 0 * * 7", "").unwrap();
        assert_eq!(sun.next_after(now), Some(utc("2025-01-05T00:00:00Z")));
        let sun0 = Schedule::cron("0 0 * * SUN", "").unwrap();
        assert_eq!(sun0.next_after(now), sun.next_after(now));
        let weekend = Schedule::cron("0 0 * * 6-7", "").unwrap();
        assert_eq!(weekend.next_after(now), Some(utc("2025-01-04T00:00:00Z")));
        assert_eq!(
            weekend.next_after(utc("2025-01-04T00:00:00Z")),
            Some(utc("2025-01-05T00:00:00Z"))
        );
        // Day of month OR day of week, as Vixie cron.
        let either = Schedule::cron("0 0 13 * 5", "").unwrap();
        assert_eq!(either.next_after(now), Some(utc("2025-01-03T00:00:00Z")));
        assert_eq!(
            either.next_after(utc("2025-01-10T00:00:00Z")),
            Some(utc("2025-01-13T00:00:00Z"))
        );
        let daily = Schedule::cron("@daily", "").unwrap();
        assert_eq!(daily.next_after(now), Some(utc("2025-01-02T00:00:00Z")));
    }

    #[test]
    fn cron_month_ends_and_leap_days() {
        let now = utc("2025-01-01T00:00:00Z");
        let s = Schedule::cron("0 12 31 * *", "").unwrap();
        let months: Vec<_> = s
            .between(now, utc("2025-06-01T00:00:00Z"), 10)
            .iter()
            .map(|t| local_date(*t, Tz::UTC))
            .collect();
        assert_eq!(months, vec![(2025, 1, 31), (2025, 3, 31), (2025, 5, 31)]);
        let leap = Schedule::cron("0 0 29 2 *", "").unwrap();
        assert_eq!(leap.next_after(now), Some(utc("2028-02-29T00:00:00Z")));
    }

    #[test]
    fn cron_rejects_malformed() {
        for bad in [
            "",
            "* * * *",
            "* * * * * *",
            "61 * * * *",
            "* 25 * * *",
            "* * * * 8",
            "* * * * FUNDAY",
            "a b c d e",
            "* * 32 * *",
        ] {
            assert!(
                matches!(Schedule::cron(bad, ""), Err(ScheduleError::Cron { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            Schedule::cron("* * * * *", "Europe/Nowhere"),
            Err(ScheduleError::TimeZone("Europe/Nowhere".into()))
        );
    }

    #[test]
    fn cron_in_time_zone() {
        let s = Schedule::cron("0 9 * * *", "Asia/Tokyo").unwrap();
        assert_eq!(
            s.next_after(utc("2025-01-01T00:00:00Z")),
            Some(utc("2025-01-02T00:00:00Z"))
        );
        let k = Schedule::cron("30 5 * * *", "Asia/Kolkata").unwrap();
        assert_eq!(
            k.next_after(utc("2025-01-01T00:00:00Z")),
            Some(utc("2025-01-02T00:00:00Z"))
        );
    }

    #[test]
    fn cron_spring_forward_runs_once_after_the_gap() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let s = Schedule::cron("30 2 * * *", "America/New_York").unwrap();
        let all: Vec<_> = s
            .between(utc("2025-03-08T00:00:00Z"), utc("2025-03-11T00:00:00Z"), 10)
            .into_iter()
            .map(|t| local(tz, t))
            .collect();
        assert_eq!(
            all,
            vec![
                "2025-03-08 02:30:00 EST",
                "2025-03-09 03:00:00 EDT",
                "2025-03-10 02:30:00 EDT"
            ]
        );
        // Every quarter hour: the gap's times collapse into one run at 03:00.
        let q = Schedule::cron("*/15 * * * *", "America/New_York").unwrap();
        let all: Vec<_> = q
            .between(utc("2025-03-09T06:40:00Z"), utc("2025-03-09T07:20:00Z"), 10)
            .into_iter()
            .map(|t| local(tz, t))
            .collect();
        assert_eq!(
            all,
            vec![
                "2025-03-09 01:45:00 EST",
                "2025-03-09 03:00:00 EDT",
                "2025-03-09 03:15:00 EDT"
            ]
        );
    }

    #[test]
    fn cron_fall_back_runs_once_at_first_occurrence() {
        let tz: Tz = "America/New_York".parse().unwrap();
        // 2025-11-02: 02:00 EDT -> 01:00 EST.
        let s = Schedule::cron("30 1 * * *", "America/New_York").unwrap();
        let all: Vec<_> = s
            .between(utc("2025-11-01T00:00:00Z"), utc("2025-11-04T00:00:00Z"), 10)
            .into_iter()
            .map(|t| local(tz, t))
            .collect();
        assert_eq!(
            all,
            vec![
                "2025-11-01 01:30:00 EDT",
                "2025-11-02 01:30:00 EDT",
                "2025-11-03 01:30:00 EST"
            ]
        );
        // Hourly: 01:00 once (EDT), not again at 01:00 EST; 02:00 EST next.
        let h = Schedule::cron("0 * * * *", "America/New_York").unwrap();
        let all: Vec<_> = h
            .between(utc("2025-11-02T04:30:00Z"), utc("2025-11-02T07:30:00Z"), 10)
            .into_iter()
            .map(|t| local(tz, t))
            .collect();
        assert_eq!(
            all,
            vec!["2025-11-02 01:00:00 EDT", "2025-11-02 02:00:00 EST"]
        );
    }

    #[test]
    fn southern_hemisphere_and_half_hour_shift() {
        // Lord Howe shifts by 30 minutes (02:00 -> 02:30 on 2025-10-05).
        let tz: Tz = "Australia/Lord_Howe".parse().unwrap();
        let s = Schedule::cron("15 2 * * *", "Australia/Lord_Howe").unwrap();
        let all: Vec<_> = s
            .between(utc("2025-10-03T00:00:00Z"), utc("2025-10-06T00:00:00Z"), 10)
            .into_iter()
            .map(|t| t.with_timezone(&tz).format("%m-%d %H:%M").to_string())
            .collect();
        assert_eq!(all, vec!["10-04 02:15", "10-05 02:30", "10-06 02:15"]);
    }

    #[test]
    fn periods_past_a_century_are_refused_not_overflowed() {
        // The probe of issue 20: 2^63-1 seconds crashed Chronos.
        for text in [
            "R/2020-01-01T00:00:00Z/PT9223372036854775807S",
            "R/2020-01-01T00:00:00Z/P99999999999999999999Y",
            "R/2020-01-01T00:00:00Z/P101Y",
            "R/2020-01-01T00:00:00Z/PT3162240001S",
        ] {
            assert!(
                matches!(Iso8601::parse(text), Err(ScheduleError::PeriodTooLong(_))),
                "{text}: {:?}",
                Iso8601::parse(text)
            );
        }
        assert!(matches!(
            Iso8601::parse("R-1/2020-01-01T00:00:00Z/PT1S"),
            Err(ScheduleError::Iso8601(_))
        ));
        // The longest accepted period still computes occurrences.
        let iso = Iso8601::parse("R/2020-01-01T00:00:00Z/P100YT878400H").unwrap();
        assert_eq!(iso.period.months, 1200);
    }
}
