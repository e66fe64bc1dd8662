// What #[derive(Session)] should expand to, written by hand (design check).
use bot_session::{Composer, Context, MemoryStorage, Update};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Default, Debug)]
struct Counter {
    count: u64,
}

const _: () = {
    #[automatically_derived]
    impl ::bot_session::__private::Session for Counter {
        const NAME: &'static str = "counter";
        const TYPE_NAME: &'static str = "Counter";
        const KEY: ::bot_session::__private::KeyStrategy =
            ::bot_session::__private::KeyStrategy::Chat;
        const TTL: ::bot_session::__private::Option<::bot_session::__private::Duration> =
            ::bot_session::__private::Option::Some(::bot_session::__private::Duration::from_secs(
                60,
            ));
        const LAZY: bool = false;
        const PREFIX: &'static str = "counter";
        const VERSION: u32 = 0;
        type Codec = ::bot_session::__private::Json;
        fn initial() -> Self {
            <Self as ::core::default::Default>::default()
        }
        fn __key_locks() -> &'static ::bot_session::__private::KeyLocks {
            static LOCKS: ::bot_session::__private::LazyLock<::bot_session::__private::KeyLocks> =
                ::bot_session::__private::LazyLock::new(::bot_session::__private::KeyLocks::new);
            &LOCKS
        }
    }
    #[automatically_derived]
    impl Counter {
        pub fn middleware(
            storage: impl ::bot_session::__private::Storage,
        ) -> ::bot_session::__private::SessionMiddleware<Self> {
            ::bot_session::__private::SessionMiddleware::new(storage)
        }
    }
};
trait CounterExt {
    fn counter(
        &self,
    ) -> ::bot_session::__private::Result<
        ::bot_session::__private::SessionMut<'_, Counter>,
        ::bot_session::__private::SessionError,
    >;
}
#[automatically_derived]
impl CounterExt for ::bot_session::__private::Context {
    fn counter(
        &self,
    ) -> ::bot_session::__private::Result<
        ::bot_session::__private::SessionMut<'_, Counter>,
        ::bot_session::__private::SessionError,
    > {
        self.session::<Counter>()
    }
}

#[derive(Serialize, Deserialize, Default, Debug)]
struct Prefs {
    lang: String,
}
const _: () = {
    impl ::bot_session::__private::Session for Prefs {
        const NAME: &'static str = "prefs";
        const TYPE_NAME: &'static str = "Prefs";
        const KEY: ::bot_session::__private::KeyStrategy =
            ::bot_session::__private::KeyStrategy::User;
        const TTL: ::bot_session::__private::Option<::bot_session::__private::Duration> =
            ::bot_session::__private::Option::None;
        const LAZY: bool = true;
        const PREFIX: &'static str = "prefs";
        const VERSION: u32 = 0;
        type Codec = ::bot_session::__private::Json;
        fn initial() -> Self {
            <Self as ::core::default::Default>::default()
        }
        fn __key_locks() -> &'static ::bot_session::__private::KeyLocks {
            static LOCKS: ::bot_session::__private::LazyLock<::bot_session::__private::KeyLocks> =
                ::bot_session::__private::LazyLock::new(::bot_session::__private::KeyLocks::new);
            &LOCKS
        }
    }
    impl Prefs {
        pub fn middleware(
            storage: impl ::bot_session::__private::Storage,
        ) -> ::bot_session::__private::SessionMiddleware<Self> {
            ::bot_session::__private::SessionMiddleware::new(storage)
        }
    }
};
trait PrefsExt {
    fn prefs(
        &self,
    ) -> impl ::bot_session::__private::Future<
        Output = ::bot_session::__private::Result<
            ::bot_session::__private::SessionMut<'_, Prefs>,
            ::bot_session::__private::SessionError,
        >,
    > + ::core::marker::Send;
}
impl PrefsExt for ::bot_session::__private::Context {
    fn prefs(
        &self,
    ) -> impl ::bot_session::__private::Future<
        Output = ::bot_session::__private::Result<
            ::bot_session::__private::SessionMut<'_, Prefs>,
            ::bot_session::__private::SessionError,
        >,
    > + ::core::marker::Send {
        self.load_session::<Prefs>()
    }
}

fn update(chat: i64) -> Update {
    serde_json::from_value(serde_json::json!({"update_id": 1, "message": {"message_id": 1, "date": 0,
        "chat": {"id": chat, "type": "private"}, "from": {"id": chat, "is_bot": false, "first_name": "u"}, "text": "hi"}}))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn handwritten_expansion_works() {
    let storage = MemoryStorage::new();
    let bot = Composer::new()
        .with(Counter::middleware(storage.clone()))
        .with(Prefs::middleware(storage.clone()))
        .handler(async |ctx: Context| {
            ctx.counter()?.count += 1;
            tokio::task::yield_now().await;
            let lang = ctx.prefs().await?.lang.clone();
            ctx.prefs().await?.lang = format!("{lang}x");
            Ok(())
        });
    let bot2 = Composer::new()
        .with(Counter::middleware(storage.clone()))
        .handler(|ctx| async move {
            ctx.counter()?.count += 10;
            Ok(())
        });
    for _ in 0..3 {
        bot.handle_update(update(5)).await.unwrap();
    }
    bot2.handle_update(update(5)).await.unwrap();
    let handle = tokio::spawn({
        let bot = bot.clone();
        async move { bot.handle_update(update(6)).await.unwrap() }
    });
    handle.await.unwrap();
    assert_eq!(
        bot_session::Storage::read(&storage, "counter:5")
            .await
            .unwrap(),
        Some(b"{\"count\":13}".to_vec())
    );
    assert_eq!(
        bot_session::Storage::read(&storage, "prefs:5")
            .await
            .unwrap(),
        Some(b"{\"lang\":\"xxx\"}".to_vec())
    );
}
