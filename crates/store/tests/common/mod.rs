//! What the store's test suites share: a shop (workspace + program), its advocates, and
//! conversions from friends.
#![allow(dead_code)]

use vouch_core::Email;
use vouch_core::clock::now_ms;
use vouch_core::program::{ConversionKind, ProgramRules, ProgramStatus};
use vouch_store::Store;
use vouch_store::audit::Actor;
use vouch_store::customers::CustomerInput;
use vouch_store::referrals::{self, ConversionInput};
use vouch_store::rows::{Advocate, Program};
use vouch_store::tracking;

pub struct Shop {
    pub store: Store,
    pub ws: i64,
    pub program: Program,
}

pub async fn shop(store: Store, name: &str, rules: ProgramRules) -> Shop {
    let slug = vouch_core::Slug::from_name(name).unwrap();
    let (ws, _) =
        vouch_store::commands::create_workspace(&store, name, &slug, None, &Actor::cli(), false)
            .await
            .unwrap();
    let program = tracking::create_program(
        &store,
        ws.id,
        "Friends",
        ProgramStatus::Active,
        &rules.checked().unwrap(),
        &Actor::cli(),
    )
    .await
    .unwrap();
    Shop {
        store,
        ws: ws.id,
        program,
    }
}

pub fn rules() -> ProgramRules {
    ProgramRules::starter("https://shop.example.com/")
}

pub fn person(email: &str) -> CustomerInput {
    CustomerInput {
        email: Some(Email::parse(email).unwrap()),
        name: Some(email.split('@').next().unwrap().to_string()),
        created_from: "test",
        ..Default::default()
    }
}

impl Shop {
    pub async fn advocate(&self, email: &str) -> Advocate {
        tracking::enroll(
            &self.store,
            self.ws,
            &self.program,
            &person(email),
            None,
            &Actor::cli(),
        )
        .await
        .unwrap()
        .0
    }
    pub async fn convert(
        &self,
        external_id: &str,
        friend: &str,
        f: impl FnOnce(&mut ConversionInput),
    ) -> referrals::Recorded {
        let mut input = ConversionInput {
            external_id: external_id.into(),
            customer: person(friend),
            kind: ConversionKind::FirstPurchase,
            amount_minor: 5000,
            currency: "EUR".into(),
            signals: Default::default(),
            occurred_at: now_ms(),
        };
        f(&mut input);
        referrals::record_conversion(&self.store, self.ws, &input, &Actor::cli())
            .await
            .unwrap()
    }
}
