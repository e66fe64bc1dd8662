#!/usr/bin/env python3
"""Generates a recorded stream of Telegram Bot API updates, one JSON object per line.

The stream is what a bot that counts messages would receive through getUpdates or a webhook:
private chats (each user starts with /start), basic groups, a supergroup with reply threads, a
forum supergroup with topics, a channel and its discussion group (automatic forwards, anonymous
administrators), commands for the counter bot (/start, /lang xx, /stats, some addressed to
another bot), edited messages and channel posts, callback queries from the bot's language
keyboard (some from inline messages, without a chat), inline queries and chosen inline results
(no chat), reactions, polls, member updates, join requests, and one basic group that becomes a
supergroup part-way through (its `migrate_to_chat_id` / `migrate_from_chat_id` pair), after
which the group's messages arrive from the supergroup's id.

The same --seed and --count always give the same bytes (python3 standard library only), so the
shipped file can be regenerated and tests can make larger streams:

    python3 examples/data/generate.py > examples/data/updates.jsonl   # the shipped stream
    python3 examples/data/generate.py --count 100000 --seed 7 > /tmp/big.jsonl
"""

import argparse
import json
import random
import sys

BOT = {"id": 7000000001, "is_bot": True, "first_name": "Counter", "username": "bs_counter_bot"}
OTHER_BOT = "quiz_bot"
ANONYMOUS_ADMIN = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}
TELEGRAM = {"id": 777000, "is_bot": False, "first_name": "Telegram"}

FIRST_UPDATE_ID = 734102001
FIRST_DATE = 1718000000  # 2024-06-10

# (first name, last name, username, client language)
PEOPLE = [
    ("Alice", "Martin", "alice_m", "en"), ("Bob", None, "bobby", "en"), ("Chen", "Wei", None, "zh-hans"),
    ("Dana", "Kovač", "danak", "hr"), ("Emma", "Schulz", "emmasch", "de"), ("Felix", "Braun", None, "de"),
    ("Gabriel", "Dubois", "gab_d", "fr"), ("Hélène", "Moreau", None, "fr"), ("Ivan", "Petrov", "ivanp", "ru"),
    ("Jana", "Novák", None, "cs"), ("Karim", "Haddad", "karim_h", "ar"), ("Lena", "Fischer", "lenaf", "de"),
    ("Marco", "Rossi", "mrossi", "it"), ("Nora", None, "nora_n", "en"), ("Oscar", "Lindqvist", None, "sv"),
    ("Paula", "García", "paulag", "es"), ("Quentin", "Lefèvre", "qlef", "fr"), ("Rosa", "Meier", None, "de"),
    ("Sam", "O'Brien", "samob", "en"), ("Tomás", "Silva", None, "pt-br"), ("Uma", "Iyer", "uma_i", "en"),
    ("Victor", "Roux", None, "fr"), ("Wiebke", "Hansen", "wiebke", "de"), ("Xavier", "Costa", None, None),
    ("Yuki", "Tanaka", "yukit", "ja"), ("Zoé", "Bernard", "zoe_b", "fr"), ("Amir", None, None, "fa"),
    ("Birgit", "Vogel", "birgitv", "de"), ("Claire", "Petit", None, "fr"), ("Dev", "Patel", "devp", "en"),
    ("Erik", "Johansson", None, "sv"), ("Fatima", "Zahra", "fatz", "fr"),
]

TEXTS = {
    "en": ["hi", "hello!", "good morning", "anyone around?", "lol", "thanks!", "see you tomorrow",
           "that's great news", "I'll be 5 minutes late", "does anyone have the link?", "👍",
           "how many messages is that now?", "brb", "nice photo", "who's coming on Saturday?"],
    "de": ["hallo", "guten Morgen", "danke!", "bis morgen", "klingt gut", "wer kommt am Samstag?",
           "ich bin gleich da", "super Idee", "hat jemand den Link?", "😂", "Grüße aus Köln"],
    "fr": ["salut", "bonjour !", "merci", "à demain", "ça marche", "qui vient samedi ?",
           "j'arrive dans 5 minutes", "bonne idée", "quelqu'un a le lien ?", "😄", "bisous"],
    "other": ["ok", "😊", "hola", "ciao", "?", "👋", "ja", "+1", "ok, thanks"],
}
CAPTIONS = ["look at this", "from today's hike", "sunset 🌅", "the new setup", "Schau mal", "regarde ça"]
FORUM_TOPICS = [(None, "General"), (3, "Networking"), (7, "Storage"), (12, "Off-topic")]
REACTIONS = ["👍", "❤", "🔥", "😁", "🎉", "🤔"]


def person_chat_lang(language_code):
    if language_code in ("en", "de", "fr"):
        return language_code
    return "other"


class Stream:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.update_id = FIRST_UPDATE_ID
        self.date = FIRST_DATE
        self.lines = []
        self.message_ids = {}
        self.recent = {}  # chat id -> recent (message, update kind) a user sent, for edits and reactions
        self.users = []
        taken = set()
        for first, last, username, lang in PEOPLE:
            uid = self.rng.randrange(100_000_000, 7_999_999_999)
            while uid in taken:
                uid = self.rng.randrange(100_000_000, 7_999_999_999)
            taken.add(uid)
            user = {"id": uid, "is_bot": False, "first_name": first}
            if last:
                user["last_name"] = last
            if username:
                user["username"] = username
            if lang:
                user["language_code"] = lang
            if self.rng.random() < 0.15:
                user["is_premium"] = True
            self.users.append(user)
        self.started = set()  # users who sent /start in their private chat

        def pick(n):
            return self.rng.sample(self.users, n)

        self.groups = [
            {"chat": {"id": -4031185520, "title": "Family", "type": "group"}, "members": pick(6)},
            {"chat": {"id": -4079923311, "title": "Book club", "type": "group"}, "members": pick(8)},
        ]
        # The group that becomes a supergroup half-way through.
        self.migrating = {"chat": {"id": -4102267734, "title": "Climbing crew", "type": "group"}, "members": pick(7)}
        self.migrated_chat = {"id": -1002217364455, "title": "Climbing crew", "type": "supergroup"}
        self.migrated = False
        self.channel = {"id": -1001875520094, "title": "Trail news", "username": "trail_news", "type": "channel"}
        self.discussion = {
            "chat": {"id": -1001903348211, "title": "Trail news chat", "username": "trail_news_chat", "type": "supergroup"},
            "members": pick(10),
        }
        self.forum = {
            "chat": {"id": -1002044182736, "title": "Homelab", "username": "homelab_forum", "type": "supergroup", "is_forum": True},
            "members": pick(9),
        }

    # ----- low-level builders -----

    def emit(self, kind, payload):
        self.update_id += 1
        self.lines.append({"update_id": self.update_id - 1, kind: payload})

    def tick(self):
        self.date += self.rng.randint(1, 45)
        return self.date

    def next_message_id(self, chat_id):
        self.message_ids[chat_id] = self.message_ids.get(chat_id, 0) + 1
        return self.message_ids[chat_id]

    def private_chat(self, user):
        chat = {"id": user["id"], "first_name": user["first_name"], "type": "private"}
        if "last_name" in user:
            chat["last_name"] = user["last_name"]
        if "username" in user:
            chat["username"] = user["username"]
        return chat

    def message(self, chat, sender, **fields):
        msg = {"message_id": self.next_message_id(chat["id"])}
        if "message_thread_id" in fields:
            msg["message_thread_id"] = fields.pop("message_thread_id")
        if sender is not None:
            msg["from"] = sender
        if "sender_chat" in fields:
            msg["sender_chat"] = fields.pop("sender_chat")
        msg["chat"] = chat
        msg["date"] = self.tick()
        msg.update(fields)
        return msg

    def text_for(self, user):
        lang = person_chat_lang(user.get("language_code"))
        if self.rng.random() < 0.2:
            lang = self.rng.choice(["en", "other"])
        return self.rng.choice(TEXTS[lang])

    def command_text(self, in_group):
        roll = self.rng.random()
        if roll < 0.45:
            code = self.rng.choice(["en", "de", "fr", "de", "fr", "es", "klingon"])
            command, text = "/lang", f"/lang {code}"
        elif roll < 0.85:
            command, text = "/stats", "/stats"
        elif roll < 0.93:
            command, text = "/lang", "/lang"
        else:
            command, text = "/start", "/start"
        if in_group and self.rng.random() < 0.5:
            suffix = "@" + (OTHER_BOT if self.rng.random() < 0.2 else BOT["username"])
            text = command + suffix + text[len(command):]
            command += suffix
        return text, [{"offset": 0, "length": len(command), "type": "bot_command"}]

    def content(self, user, in_group):
        """Fields of a message a person sends: mostly text, some commands, some media."""
        roll = self.rng.random()
        if roll < 0.12:
            text, entities = self.command_text(in_group)
            return {"text": text, "entities": entities}
        if roll < 0.17:
            size = self.rng.randrange(10_000, 300_000)
            photo = [{"file_id": f"AgACAgQAAxkBAAI{self.update_id:x}", "file_unique_id": f"AQAD{self.update_id:x}",
                      "file_size": size // 10, "width": 90, "height": 67},
                     {"file_id": f"AgACAgQAAxkBAAJ{self.update_id:x}", "file_unique_id": f"AQAE{self.update_id:x}",
                      "file_size": size, "width": 1280, "height": 960}]
            fields = {"photo": photo}
            if self.rng.random() < 0.6:
                fields["caption"] = self.rng.choice(CAPTIONS)
            return fields
        if roll < 0.20:
            return {"sticker": {"file_id": f"CAACAgIAAxkBAAK{self.update_id:x}", "file_unique_id": f"AgAD{self.update_id:x}",
                                "type": "regular", "width": 512, "height": 512, "is_animated": False,
                                "is_video": False, "emoji": self.rng.choice(REACTIONS)}}
        return {"text": self.text_for(user)}

    def remember(self, chat_id, kind, msg):
        recent = self.recent.setdefault(chat_id, [])
        recent.append((kind, msg))
        if len(recent) > 8:
            recent.pop(0)

    # ----- events -----

    def private_message(self):
        user = self.rng.choice(self.users)
        chat = self.private_chat(user)
        if user["id"] not in self.started:
            self.started.add(user["id"])
            fields = {"text": "/start", "entities": [{"offset": 0, "length": 6, "type": "bot_command"}]}
        else:
            fields = self.content(user, in_group=False)
        msg = self.message(chat, user, **fields)
        self.emit("message", msg)
        self.remember(chat["id"], "message", msg)

    def group_message(self, group):
        user = self.rng.choice(group["members"])
        msg = self.message(group["chat"], user, **self.content(user, in_group=True))
        self.emit("message", msg)
        self.remember(group["chat"]["id"], "message", msg)

    def climbing_message(self):
        if self.migrated:
            group = {"chat": self.migrated_chat, "members": self.migrating["members"]}
        else:
            group = self.migrating
        self.group_message(group)

    def migrate(self):
        """A basic group becomes a supergroup: Telegram announces it on both sides."""
        admin = self.migrating["members"][0]
        old = self.migrating["chat"]
        new = self.migrated_chat
        self.emit("message", self.message(old, admin, migrate_to_chat_id=new["id"]))
        self.emit("message", self.message(new, ANONYMOUS_ADMIN, sender_chat=new, migrate_from_chat_id=old["id"]))
        self.migrated = True
        self.recent.pop(old["id"], None)  # the old group is gone: nothing there is edited any more

    def forum_message(self):
        user = self.rng.choice(self.forum["members"])
        thread, _name = self.rng.choice(FORUM_TOPICS)
        fields = self.content(user, in_group=True)
        if thread is not None:
            fields["message_thread_id"] = thread
            fields["is_topic_message"] = True
        msg = self.message(self.forum["chat"], user, **fields)
        self.emit("message", msg)
        self.remember(self.forum["chat"]["id"], "message", msg)

    def discussion_message(self):
        chat = self.discussion["chat"]
        roll = self.rng.random()
        if roll < 0.1:
            # An anonymous administrator: sent on behalf of the group, no user.
            msg = self.message(chat, ANONYMOUS_ADMIN, sender_chat=chat, author_signature="Mod",
                               text=self.rng.choice(["Please stay on topic.", "/stats", "Welcome, everyone!"]))
        elif roll < 0.35:
            # A reply in the thread of an automatically forwarded channel post.
            user = self.rng.choice(self.discussion["members"])
            root = self.rng.randrange(1, max(2, self.message_ids.get(chat["id"], 1)))
            msg = self.message(chat, user, message_thread_id=root,
                               reply_to_message={"message_id": root, "from": TELEGRAM, "sender_chat": self.channel,
                                                 "chat": chat, "date": self.date - 60, "is_automatic_forward": True,
                                                 "text": "…"},
                               **self.content(user, in_group=True))
        else:
            user = self.rng.choice(self.discussion["members"])
            msg = self.message(chat, user, **self.content(user, in_group=True))
        self.emit("message", msg)
        self.remember(chat["id"], "message", msg)

    def channel_post(self):
        text = self.rng.choice(["Trail 4 is open again", "Weather warning for the weekend",
                                "New map of the northern loop", "Volunteers wanted for Sunday"])
        post = self.message(self.channel, None, sender_chat=self.channel, text=text)
        if self.rng.random() < 0.5:
            post["author_signature"] = self.rng.choice(["Dana", "Lena"])
        self.emit("channel_post", post)
        self.remember(self.channel["id"], "channel_post", post)
        # Linked discussion group: the post is forwarded automatically.
        chat = self.discussion["chat"]
        forward = self.message(chat, TELEGRAM, sender_chat=self.channel,
                               forward_origin={"type": "channel", "chat": self.channel,
                                               "message_id": post["message_id"], "date": post["date"]},
                               is_automatic_forward=True, text=text)
        self.emit("message", forward)

    def edit(self):
        candidates = [(cid, kind, msg) for cid, items in self.recent.items() for kind, msg in items]
        if not candidates:
            return
        _cid, kind, msg = self.rng.choice(candidates)
        edited = dict(msg)
        edited["edit_date"] = self.tick()
        if "text" in edited and not edited["text"].startswith("/"):
            edited["text"] = edited["text"] + " (edited)"
        elif "caption" in edited:
            edited["caption"] = edited["caption"] + "!"
        else:
            return
        self.emit("edited_channel_post" if kind == "channel_post" else "edited_message", edited)

    def language_keyboard(self):
        """The bot's `/lang` message with its keyboard, then a press on one of the buttons."""
        roll = self.rng.random()
        if roll < 0.2:
            user = self.rng.choice(self.users)
            self.emit("callback_query", {
                "id": str(self.rng.randrange(10**18, 10**19)),
                "from": user,
                "inline_message_id": f"AgAAA{self.rng.randrange(16**12):012x}",
                "chat_instance": str(-self.rng.randrange(10**18, 9 * 10**18)),
                "data": "lang:" + self.rng.choice(["en", "de", "fr"]),
            })
            return
        if roll < 0.6:
            user = self.rng.choice([u for u in self.users if u["id"] in self.started] or self.users)
            chat = self.private_chat(user)
        else:
            group = self.rng.choice(self.groups)
            user = self.rng.choice(group["members"])
            chat = group["chat"]
        keyboard = {"inline_keyboard": [[{"text": "English", "callback_data": "lang:en"},
                                         {"text": "Deutsch", "callback_data": "lang:de"},
                                         {"text": "Français", "callback_data": "lang:fr"}]]}
        bot_message = self.message(chat, BOT, text="Choose a language", reply_markup=keyboard)
        self.date += self.rng.randint(2, 20)
        self.emit("callback_query", {
            "id": str(self.rng.randrange(10**18, 10**19)),
            "from": user,
            "message": bot_message,
            "chat_instance": str(-self.rng.randrange(10**18, 9 * 10**18)),
            "data": "lang:" + self.rng.choice(["en", "de", "fr"]),
        })

    def inline_query(self):
        user = self.rng.choice(self.users)
        query = self.rng.choice(["", "co", "count", "stats", "how many"])
        self.emit("inline_query", {
            "id": str(self.rng.randrange(10**18, 10**19)),
            "from": user,
            "query": query,
            "offset": "",
            "chat_type": self.rng.choice(["sender", "private", "group", "supergroup"]),
        })
        if self.rng.random() < 0.3:
            self.tick()
            self.emit("chosen_inline_result", {"result_id": "count", "from": user, "query": query})

    def reaction(self):
        group = self.rng.choice(self.groups + [self.forum])
        chat = group["chat"]
        items = self.recent.get(chat["id"])
        if not items:
            return
        _kind, msg = self.rng.choice(items)
        self.emit("message_reaction", {
            "chat": chat, "message_id": msg["message_id"], "user": self.rng.choice(group["members"]),
            "date": self.tick(), "old_reaction": [],
            "new_reaction": [{"type": "emoji", "emoji": self.rng.choice(REACTIONS)}],
        })

    def poll(self):
        group = self.rng.choice(self.groups)
        poll_id = str(self.rng.randrange(10**18, 10**19))
        options = [{"text": t, "voter_count": 0} for t in ("Saturday", "Sunday", "Both")]
        self.emit("message", self.message(group["chat"], group["members"][0], poll={
            "id": poll_id, "question": "When do we meet?", "options": options, "total_voter_count": 0,
            "is_closed": False, "is_anonymous": False, "type": "regular", "allows_multiple_answers": False}))
        for voter in self.rng.sample(group["members"], 3):
            self.tick()
            self.emit("poll_answer", {"poll_id": poll_id, "user": voter, "option_ids": [self.rng.randrange(3)]})

    def join_request(self):
        user = self.rng.choice(self.users)
        self.emit("chat_join_request", {"chat": self.forum["chat"], "from": user, "user_chat_id": user["id"],
                                        "date": self.tick()})

    def member_joined(self):
        group = self.rng.choice(self.groups)
        user = self.rng.choice(self.users)
        old = {"user": user, "status": "left"}
        new = {"user": user, "status": "member"}
        self.emit("chat_member", {"chat": group["chat"], "from": user, "date": self.tick(),
                                  "old_chat_member": old, "new_chat_member": new})
        self.emit("message", self.message(group["chat"], user, new_chat_members=[user]))

    def bot_added(self, chat, by):
        """The bot joins a group: its own membership update, then the service message."""
        self.emit("my_chat_member", {
            "chat": chat, "from": by, "date": self.tick(),
            "old_chat_member": {"user": BOT, "status": "left"},
            "new_chat_member": {"user": BOT, "status": "administrator" if chat["type"] == "supergroup" else "member"},
        })
        if chat["type"] == "group":
            self.emit("message", self.message(chat, by, new_chat_members=[BOT]))

    # ----- the whole stream -----

    def generate(self, count):
        for group in self.groups + [self.migrating, self.forum, self.discussion]:
            self.bot_added(group["chat"], group["members"][0])
        self.bot_added(self.channel, self.discussion["members"][0])
        migrate_at = max(len(self.lines) + 10, int(count * 0.55))
        events = [
            (30, self.private_message),
            (14, lambda: self.group_message(self.rng.choice(self.groups))),
            (9, self.climbing_message),
            (12, self.forum_message),
            (8, self.discussion_message),
            (3, self.channel_post),
            (5, self.edit),
            (4, self.language_keyboard),
            (5, self.inline_query),
            (2, self.reaction),
            (0.7, self.poll),
            (0.6, self.join_request),
            (0.6, self.member_joined),
        ]
        weights = [w for w, _ in events]
        while len(self.lines) < count:
            if not self.migrated and len(self.lines) >= migrate_at:
                self.migrate()
                continue
            self.rng.choices(events, weights)[0][1]()
        return self.lines[:count]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1200, help="updates to generate (default 1200)")
    parser.add_argument("--seed", type=int, default=2024, help="random seed (default 2024)")
    parser.add_argument("--output", "-o", help="file to write (default: standard output)")
    args = parser.parse_args()
    if args.count < 1:
        parser.error("--count must be at least 1")
    lines = Stream(args.seed).generate(args.count)
    out = open(args.output, "w", encoding="utf-8", newline="\n") if args.output else sys.stdout
    with out:
        for update in lines:
            out.write(json.dumps(update, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")


if __name__ == "__main__":
    main()
