//! CSV cells that a spreadsheet opens as text. A value beginning with `=`, `+`, `-` or `@`
//! would run as a formula (a customer or payee could name themselves `=HYPERLINK(…)`, or
//! `+cmd|…` for DDE), so such a cell is written with a leading apostrophe, which spreadsheets
//! read as "text". A phone number or an amount (`+33 6 12 34 56 78`, `-12.50`) stays as it is.
//! [`unguard`] removes the apostrophe again, so an exported file imports unchanged.

/// `s` as a cell no spreadsheet evaluates.
pub fn safe(s: &str) -> std::borrow::Cow<'_, str> {
    if needs_guard(s) {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

/// The value [`safe`] was given.
pub fn unguard(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if needs_guard(rest) => rest,
        _ => s,
    }
}

fn needs_guard(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    match first {
        '=' | '@' | '\t' | '\r' => true,
        // A signed number or a phone number is data, not a formula.
        '+' | '-' => !s[1..]
            .chars()
            .all(|c| c.is_ascii_digit() || " .,()/-".contains(c)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_text_and_numbers_stay_numbers() {
        for f in [
            "=HYPERLINK(\"http://x\")",
            "@SUM(A1)",
            "+cmd|' /C calc'!A0",
            "-2+3*cmd",
            "\t=1",
        ] {
            assert_eq!(safe(f), format!("'{f}"), "{f}");
            assert_eq!(unguard(&safe(f)), f);
        }
        for d in [
            "+33 6 12 34 56 78",
            "-12.50",
            "Anna",
            "",
            "'quoted' name",
            "1+1",
        ] {
            assert_eq!(safe(d), d, "{d}");
            assert_eq!(unguard(d), d, "{d}");
        }
    }
}
