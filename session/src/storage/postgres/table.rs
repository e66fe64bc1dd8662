//! The name of the table that holds the sessions, checked before it goes into SQL.

/// A validated table name: `display` as given, `quoted` for SQL, `index` for the index name.
pub(super) struct Table {
    pub(super) display: String,
    pub(super) quoted: String,
    pub(super) index: String,
}

impl Table {
    pub(super) fn parse(name: &str) -> Result<Table, String> {
        let (schema, table) = match name.split_once('.') {
            Some((schema, table)) => (Some(schema), table),
            None => (None, name),
        };
        let valid = |part: &str| {
            !part.is_empty()
                && part.len() <= 48
                && !part.as_bytes()[0].is_ascii_digit()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if !valid(table) || schema.is_some_and(|schema| !valid(schema)) {
            return Err(format!(
                "invalid table name `{name}`: use lowercase ASCII letters, digits and `_`, not \
                 starting with a digit, at most 48 bytes, optionally as `schema.table`"
            ));
        }
        let quoted = match schema {
            Some(schema) => format!("\"{schema}\".\"{table}\""),
            None => format!("\"{table}\""),
        };
        Ok(Table {
            display: name.to_owned(),
            quoted,
            index: format!("\"{table}_expires_at\""),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_validated() {
        assert_eq!(
            Table::parse("bot_sessions").unwrap().quoted,
            "\"bot_sessions\""
        );
        assert_eq!(Table::parse("app.s2").unwrap().quoted, "\"app\".\"s2\"");
        assert_eq!(Table::parse("app.s2").unwrap().index, "\"s2_expires_at\"");
        for bad in [
            "",
            "Sessions",
            "1abc",
            "a-b",
            "a b",
            "a;drop table x",
            "a\"b",
            "a.b.c",
            ".a",
            "a.",
            &"x".repeat(49),
        ] {
            let err = Table::parse(bad)
                .err()
                .unwrap_or_else(|| panic!("accepted `{bad}`"));
            assert!(err.contains("invalid table name"), "{err}");
        }
    }
}
