//! What the bot says, in English, German and French.

use serde::{Deserialize, Serialize};

/// A language the bot speaks; stored in the `prefs` session as `"en"`, `"de"` or `"fr"`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    De,
    Fr,
}

impl Lang {
    /// The language for a code such as `de` or a Telegram `language_code` such as `de-AT`.
    pub fn from_code(code: &str) -> Option<Lang> {
        let primary = code.split(['-', '_']).next().unwrap_or(code);
        match primary.to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "de" => Some(Lang::De),
            "fr" => Some(Lang::Fr),
            _ => None,
        }
    }

    /// Any chat message that the bot counts and has nothing else to say about.
    pub fn counted(self, n: u64) -> String {
        match self {
            Lang::En => format!("Message #{n} in this chat"),
            Lang::De => format!("Nachricht Nr. {n} in diesem Chat"),
            Lang::Fr => format!("Message n° {n} dans cette discussion"),
        }
    }

    /// `/start`.
    pub fn welcome(self, name: &str, n: u64) -> String {
        match self {
            Lang::En => format!(
                "Hi {name}! I count the messages in this chat: this was #{n}. \
                 /lang en|de|fr sets my language, /stats shows what changed since you last asked."
            ),
            Lang::De => format!(
                "Hallo {name}! Ich zähle die Nachrichten in diesem Chat: Das war Nr. {n}. \
                 /lang en|de|fr wählt meine Sprache, /stats zeigt, was seit deiner letzten Frage dazukam."
            ),
            Lang::Fr => format!(
                "Bonjour {name} ! Je compte les messages de cette discussion : c'était le n° {n}. \
                 /lang en|de|fr choisit ma langue, /stats montre ce qui a changé depuis ta dernière demande."
            ),
        }
    }

    /// `/lang xx` with a language the bot speaks, or a press on the language keyboard.
    pub fn language_set(self) -> String {
        match self {
            Lang::En => "Language: English.".to_owned(),
            Lang::De => "Sprache: Deutsch.".to_owned(),
            Lang::Fr => "Langue : français.".to_owned(),
        }
    }

    /// `/lang xx` with a language the bot does not speak.
    pub fn unknown_language(self, code: &str) -> String {
        match self {
            Lang::En => {
                format!("I don't speak \"{code}\" yet; try /lang en, /lang de or /lang fr.")
            }
            Lang::De => format!(
                "„{code}“ spreche ich noch nicht; versuch /lang en, /lang de oder /lang fr."
            ),
            Lang::Fr => format!(
                "Je ne parle pas encore « {code} » ; essaie /lang en, /lang de ou /lang fr."
            ),
        }
    }

    /// `/lang` alone (a real bot would attach the language keyboard to this message).
    pub fn current_language(self) -> String {
        match self {
            Lang::En => "I speak English with you. /lang de or /lang fr switches.".to_owned(),
            Lang::De => "Ich spreche Deutsch mit dir. /lang en oder /lang fr wechselt.".to_owned(),
            Lang::Fr => "Je te parle en français. /lang en ou /lang de pour changer.".to_owned(),
        }
    }

    /// `/stats`, the first time this user asks in this chat.
    pub fn stats_first(self, n: u64) -> String {
        match self {
            Lang::En => {
                format!("{n} messages in this chat so far. Ask again later to see what changed.")
            }
            Lang::De => format!(
                "Bisher {n} Nachrichten in diesem Chat. Frag später noch einmal, dann siehst du, was dazukam."
            ),
            Lang::Fr => format!(
                "{n} messages dans cette discussion jusqu'ici. Redemande plus tard pour voir ce qui a changé."
            ),
        }
    }

    /// `/stats` again: what changed since the last time.
    pub fn stats_since(self, n: u64, new: u64, requests: u64) -> String {
        match self {
            Lang::En => format!(
                "{n} messages in this chat, {new} since you last asked (you asked {requests} times)."
            ),
            Lang::De => format!(
                "{n} Nachrichten in diesem Chat, {new} seit deiner letzten Frage (du hast {requests}-mal gefragt)."
            ),
            Lang::Fr => format!(
                "{n} messages dans cette discussion, {new} depuis ta dernière demande (tu as demandé {requests} fois)."
            ),
        }
    }

    /// `/forgetme`, done: `n` sessions deleted or scrubbed.
    pub fn forgotten(self, n: usize) -> String {
        match (self, n) {
            (Lang::En, 0) => "I kept nothing about you.".to_owned(),
            (Lang::De, 0) => "Ich hatte nichts über dich gespeichert.".to_owned(),
            (Lang::Fr, 0) => "Je ne gardais rien sur toi.".to_owned(),
            (Lang::En, n) => format!("Forgotten: I erased the {n} records I kept about you."),
            (Lang::De, n) => {
                format!("Vergessen: Ich habe die {n} Einträge gelöscht, die ich über dich hatte.")
            }
            (Lang::Fr, n) => {
                format!("Oublié : j'ai effacé les {n} enregistrements que je gardais sur toi.")
            }
        }
    }

    /// `/forgetme` failed (the store did): nothing is promised.
    pub fn not_forgotten(self) -> String {
        match self {
            Lang::En => "I could not erase your data just now; please send /forgetme again later.".to_owned(),
            Lang::De => "Ich konnte deine Daten gerade nicht löschen; schick /forgetme bitte später noch einmal.".to_owned(),
            Lang::Fr => "Je n'ai pas pu effacer tes données pour l'instant ; renvoie /forgetme plus tard.".to_owned(),
        }
    }

    /// `/lang` or `/stats` sent on behalf of a chat (an anonymous administrator): there is no
    /// user to keep settings or stats for.
    pub fn no_user(self) -> String {
        match self {
            Lang::En => "I keep settings and stats per person, and this was sent on behalf of the chat.".to_owned(),
            Lang::De => "Einstellungen und Statistiken führe ich pro Person, und das kam im Namen des Chats.".to_owned(),
            Lang::Fr => "Je garde réglages et statistiques par personne, et ceci a été envoyé au nom de la discussion.".to_owned(),
        }
    }
}
