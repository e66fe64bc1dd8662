//! The wrapped branch's run-time signature, as dptree's `type_check` (which
//! `Dispatcher::build` calls) reads it: a dependency the branch needs and nobody provides is
//! reported when the handler tree is built, not as a panic on the first update.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::Location;

use ::teloxide::dptree::{HandlerSignature, Type};
use ::teloxide::types::Update;

use crate::context::Context;

/// The signature of the wrapper around a branch whose signature is `branch`: the branch's
/// obligations without the [`Context`] and the session middlewares (`provided`) the wrapper
/// injects, plus the [`Update`] the wrapper builds the context from (required at the caller's
/// location). It guarantees nothing to the handlers after it, which see the dependencies as
/// they were before it, and it may continue (when the branch does not handle the update).
#[track_caller]
pub(super) fn wrapper_signature(branch: &HandlerSignature, provided: &[Type]) -> HandlerSignature {
    let mut obligations = branch_obligations(branch);
    obligations.remove(&Type::of::<Context>());
    for ty in provided {
        obligations.remove(ty);
    }
    obligations
        .entry(Type::of::<Update>())
        .or_insert(Location::caller());
    HandlerSignature::Other {
        obligations,
        guaranteed_outcomes: BTreeSet::new(),
        conditional_outcomes: BTreeSet::new(),
        continues: true,
    }
}

/// What the branch needs from the handlers before it.
pub(super) fn branch_obligations(
    branch: &HandlerSignature,
) -> BTreeMap<Type, &'static Location<'static>> {
    match branch {
        HandlerSignature::Entry => BTreeMap::new(),
        HandlerSignature::Other { obligations, .. } => obligations.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Database;

    fn obligations(sig: &HandlerSignature) -> Vec<&'static str> {
        match sig {
            HandlerSignature::Other { obligations, .. } => {
                obligations.keys().map(|ty| ty.name).collect()
            }
            HandlerSignature::Entry => Vec::new(),
        }
    }

    #[test]
    fn the_context_is_provided_and_the_update_required() {
        let branch: ::teloxide::dptree::Handler<'static, ()> =
            ::teloxide::dptree::endpoint(|_ctx: Context, _db: Database| async {});
        let sig = wrapper_signature(branch.sig(), &[]);
        let mut expected = vec![
            std::any::type_name::<Database>(),
            std::any::type_name::<Update>(),
        ];
        expected.sort_unstable();
        assert_eq!(obligations(&sig), expected);
    }

    #[test]
    fn the_middlewares_the_wrapper_provides_are_not_required() {
        let branch: ::teloxide::dptree::Handler<'static, ()> =
            ::teloxide::dptree::endpoint(|_db: Database, _more: u32| async {});
        let sig = wrapper_signature(branch.sig(), &[Type::of::<u32>()]);
        let mut expected = vec![
            std::any::type_name::<Database>(),
            std::any::type_name::<Update>(),
        ];
        expected.sort_unstable();
        assert_eq!(obligations(&sig), expected);
    }

    #[test]
    fn an_entry_branch_needs_only_the_update() {
        let sig = wrapper_signature(&HandlerSignature::Entry, &[]);
        assert_eq!(obligations(&sig), vec![std::any::type_name::<Update>()]);
        let HandlerSignature::Other {
            guaranteed_outcomes,
            continues,
            ..
        } = sig
        else {
            panic!("the wrapper's signature is never `Entry`");
        };
        assert!(guaranteed_outcomes.is_empty());
        assert!(continues);
    }
}
