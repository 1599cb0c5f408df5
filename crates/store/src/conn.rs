//! The connection every store function takes: a pooled connection, a driver transaction, or the
//! native SQLite write transaction (`native`). All three execute the same sqlx queries and give
//! back the `Any` driver's rows, so a store function neither knows nor cares which it was given.

use crate::native;
use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt};
use sqlx::any::{AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::pool::PoolConnection;
use sqlx::{Any, Either, Execute, Executor, SqlStr};

pub struct Conn {
    inner: Inner,
}

enum Inner {
    Pooled(PoolConnection<Any>),
    Driver(sqlx::Transaction<'static, Any>),
    Native(native::Transaction),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.inner {
            Inner::Pooled(_) => "Conn::Pooled",
            Inner::Driver(_) => "Conn::Driver",
            Inner::Native(_) => "Conn::Native",
        })
    }
}

impl Conn {
    pub(crate) fn pooled(c: PoolConnection<Any>) -> Self {
        Self {
            inner: Inner::Pooled(c),
        }
    }

    pub(crate) fn driver(t: sqlx::Transaction<'static, Any>) -> Self {
        Self {
            inner: Inner::Driver(t),
        }
    }

    pub(crate) fn native(t: native::Transaction) -> Self {
        Self {
            inner: Inner::Native(t),
        }
    }

    /// Whether the database behind this connection is SQLite (else PostgreSQL).
    pub fn is_sqlite(&self) -> bool {
        match &self.inner {
            Inner::Pooled(c) => c.backend_name() == "SQLite",
            Inner::Driver(t) => t.backend_name() == "SQLite",
            Inner::Native(_) => true,
        }
    }

    /// Ends the transaction this connection is, keeping what it wrote.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self.inner {
            Inner::Driver(t) => t.commit().await,
            Inner::Native(t) => t.commit().await,
            Inner::Pooled(_) => Ok(()),
        }
    }

    /// Ends the transaction this connection is, discarding what it wrote.
    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.inner {
            Inner::Driver(t) => t.rollback().await,
            Inner::Native(t) => t.rollback(),
            Inner::Pooled(_) => Ok(()),
        }
    }
}

/// The native connection's statements, as a stream of rows then the statement's result.
fn native_many<'e>(
    t: &'e mut native::Transaction,
    sql: SqlStr,
    arguments: Option<sqlx::any::AnyArguments>,
    persistent: bool,
) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>> {
    stream::once(async move {
        t.cooperate().await;
        t.run(sql.as_str(), arguments, persistent, false)
    })
    .flat_map(|result| {
        let items: Vec<_> = match result {
            Ok((rows, done)) => rows
                .into_iter()
                .map(|r| Ok(Either::Right(r)))
                .chain(std::iter::once(Ok(Either::Left(done))))
                .collect(),
            Err(e) => vec![Err(e)],
        };
        stream::iter(items)
    })
    .boxed()
}

impl<'c> Executor<'c> for &'c mut Conn {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        mut query: E,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match &mut self.inner {
            Inner::Pooled(c) => (&mut **c).fetch_many(query),
            Inner::Driver(t) => (&mut **t).fetch_many(query),
            Inner::Native(t) => match query.take_arguments() {
                Ok(arguments) => {
                    let persistent = query.persistent();
                    native_many(t, query.sql(), arguments, persistent)
                }
                Err(e) => stream::once(async { Err(sqlx::Error::Encode(e)) }).boxed(),
            },
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        mut query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match &mut self.inner {
            Inner::Pooled(c) => (&mut **c).fetch_optional(query),
            Inner::Driver(t) => (&mut **t).fetch_optional(query),
            Inner::Native(t) => {
                let arguments = query.take_arguments().map_err(sqlx::Error::Encode);
                let persistent = query.persistent();
                let sql = query.sql();
                Box::pin(async move {
                    t.cooperate().await;
                    let (rows, _) = t.run(sql.as_str(), arguments?, persistent, true)?;
                    Ok(rows.into_iter().next())
                })
            }
        }
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement, sqlx::Error>>
    where
        'c: 'e,
    {
        match &mut self.inner {
            Inner::Pooled(c) => (&mut **c).prepare_with(sql, parameters),
            Inner::Driver(t) => (&mut **t).prepare_with(sql, parameters),
            Inner::Native(_) => Box::pin(async {
                Err(sqlx::Error::Protocol(
                    "statements are not prepared ahead on the native SQLite writer".into(),
                ))
            }),
        }
    }
}
