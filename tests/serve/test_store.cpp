// serve::Store: round trips, idempotent and all-or-nothing appends, cached state, and the files
// open() must refuse without touching them.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "serve/store.h"
#include "test_util.h"

using userllm::serve::NewEvent;
using userllm::serve::Store;
using userllm::serve::StoreIdentity;
namespace fs = std::filesystem;

namespace {

const StoreIdentity kId{"run-abc123", {"item", "genre", "rating"}};

NewEvent ev(int64_t ts, const std::string& id = "", const std::string& item = "i1") {
  NewEvent e;
  e.item = item;
  e.timestamp = ts;
  e.id = id;
  e.tokens = {uint32_t(ts), 7, 0xdeadbeef};
  return e;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs SQL on FILE through a separate connection, as a hand edit or another tool would.
void sql(const fs::path& file, const std::string& statement) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.string().c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << msg;
}

// The message of open()'s refusal; the test fails when open() succeeds.
std::string refusal(const fs::path& file, const StoreIdentity& id = kId) {
  try {
    Store::open(file, id);
  } catch (const userllm::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "open() accepted " << file;
  return "";
}

// A closed store with 300 events over 3 users: several pages on disk.
void make_store(const fs::path& file) {
  auto s = Store::open(file, kId);
  for (int u = 0; u < 3; u++) {
    std::vector<NewEvent> events;
    for (int i = 0; i < 100; i++) {
      events.push_back(ev(1000 + i, "e" + std::to_string(i)));
      events.back().text = std::string(100, char('a' + i % 26));
    }
    s->append("u" + std::to_string(u), events);
  }
}

}  // namespace

TEST(Store, CreateAndReopenRoundTrip) {
  userllm::test::ScratchDir dir;
  const fs::path file = dir / "store.db";
  {
    auto s = Store::open(file, kId);
    EXPECT_EQ(s->path(), file);
    NewEvent a = ev(100, "a", "movie:1");
    a.rating = 4.5;
    a.text = std::string("great\0film\n", 11);
    NewEvent b = ev(100, "", "movie:2");  // same timestamp is fine
    auto r = s->append("alice", {a, b});
    EXPECT_EQ(r.accepted, 2);
    EXPECT_EQ(r.total, 2);
    EXPECT_EQ(r.version, 1);
    EXPECT_TRUE(r.created);
    s->close();
    EXPECT_THROW(s->num_users(), userllm::Error);
  }
  auto s = Store::open(file, kId);
  auto u = s->user("alice");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->user, "alice");
  EXPECT_EQ(u->events, 2);
  EXPECT_EQ(u->last_timestamp, 100);
  EXPECT_EQ(u->version, 1);
  auto events = s->events("alice");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].seq, 0);
  EXPECT_EQ(events[0].item, "movie:1");
  EXPECT_EQ(events[0].rating, 4.5);
  EXPECT_EQ(events[0].timestamp, 100);
  EXPECT_EQ(events[0].text, std::string("great\0film\n", 11));
  EXPECT_EQ(events[0].id, "a");
  EXPECT_EQ(events[0].tokens, (std::vector<uint32_t>{100, 7, 0xdeadbeef}));
  EXPECT_EQ(events[1].seq, 1);
  EXPECT_EQ(events[1].item, "movie:2");
  EXPECT_FALSE(events[1].rating);
  EXPECT_EQ(events[1].id, "");
  EXPECT_EQ(s->events("alice", 1).size(), 1u);
  EXPECT_TRUE(s->events("alice", 2).empty());
  EXPECT_TRUE(s->events("bob").empty());
  EXPECT_FALSE(s->user("bob"));
}

TEST(Store, TokensAreLittleEndianOnDisk) {
  userllm::test::ScratchDir dir;
  const fs::path file = dir / "store.db";
  Store::open(file, kId)->append("u", {ev(0x01020304)});
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.string().c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT tokens FROM events", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  std::string blob(static_cast<const char*>(sqlite3_column_blob(st, 0)), size_t(sqlite3_column_bytes(st, 0)));
  sqlite3_finalize(st);
  sqlite3_close(db);
  EXPECT_EQ(blob, std::string("\x04\x03\x02\x01\x07\0\0\0\xef\xbe\xad\xde", 12));
}

TEST(Store, RetryWithTheSameIdsIsIdempotent) {
  userllm::test::ScratchDir dir;
  auto s = Store::open(dir / "store.db", kId);
  std::vector<NewEvent> batch = {ev(1, "x"), ev(2, "y"), ev(3)};
  auto first = s->append("u", batch);
  EXPECT_EQ(first.accepted, 3);
  // The event without an id is never deduplicated; the others are skipped.
  auto again = s->append("u", {ev(1, "x"), ev(2, "y")});
  EXPECT_EQ(again.accepted, 0);
  EXPECT_EQ(again.total, 3);
  EXPECT_EQ(again.version, 1);
  EXPECT_FALSE(again.created);
  // A retry mixed with a new event accepts the new one only; the old ids' timestamps don't count.
  auto mixed = s->append("u", {ev(1, "x"), ev(4, "z")});
  EXPECT_EQ(mixed.accepted, 1);
  EXPECT_EQ(mixed.total, 4);
  EXPECT_EQ(s->num_events(), 4);
  // Ids are per user.
  EXPECT_EQ(s->append("v", {ev(1, "x")}).accepted, 1);
}

TEST(Store, DuplicateIdInsideOneCall) {
  userllm::test::ScratchDir dir;
  auto s = Store::open(dir / "store.db", kId);
  auto r = s->append("u", {ev(1, "x", "first"), ev(2, "x", "second"), ev(3, "y")});
  EXPECT_EQ(r.accepted, 2);
  EXPECT_EQ(r.total, 2);
  auto events = s->events("u");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].item, "first");
  EXPECT_EQ(events[1].id, "y");
  EXPECT_EQ(events[1].seq, 1);
}

TEST(Store, BadTokenCountAppliesNothing) {
  userllm::test::ScratchDir dir;
  auto s = Store::open(dir / "store.db", kId);
  s->append("u", {ev(1, "a"), ev(2, "b")});
  s->put_state("u", {"enc", 2, "state"});
  std::vector<NewEvent> batch = {ev(3, "c"), ev(4, "d"), ev(5, "e")};
  batch[2].tokens.pop_back();
  try {
    s->append("u", batch);
    FAIL() << "accepted a bad token count";
  } catch (const userllm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("event 2: has 2 tokens"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s->events("u").size(), 2u);
  EXPECT_EQ(s->user("u")->version, 1);
  EXPECT_EQ(s->user("u")->last_timestamp, 2);
  EXPECT_TRUE(s->state("u"));  // not deleted either
  // The ids of the refused call are not taken.
  batch[2].tokens.push_back(1);
  EXPECT_EQ(s->append("u", batch).accepted, 3);
  // A refused first append leaves no user behind.
  EXPECT_THROW(s->append("new", {ev(1), ev(2), NewEvent{}}), userllm::Error);
  EXPECT_FALSE(s->user("new"));
  EXPECT_EQ(s->num_users(), 1);
}

TEST(Store, EarlierTimestampAppliesNothing) {
  userllm::test::ScratchDir dir;
  auto s = Store::open(dir / "store.db", kId);
  s->append("u", {ev(10), ev(20)});
  try {
    s->append("u", {ev(20), ev(30), ev(15)});
    FAIL() << "accepted an earlier timestamp";
  } catch (const userllm::Error& e) {
    EXPECT_STREQ(e.what(), "event 2: timestamp 15 is earlier than the user's last event (30)");
  }
  try {
    s->append("u", {ev(19)});
    FAIL() << "accepted an earlier timestamp";
  } catch (const userllm::Error& e) {
    EXPECT_STREQ(e.what(), "event 0: timestamp 19 is earlier than the user's last event (20)");
  }
  EXPECT_EQ(s->events("u").size(), 2u);
  EXPECT_EQ(s->user("u")->version, 1);
  EXPECT_EQ(s->user("u")->last_timestamp, 20);
}

TEST(Store, NonFiniteRatingIsRefused) {
  userllm::test::ScratchDir dir;
  auto s = Store::open(dir / "store.db", kId);
  NewEvent e = ev(1);
  e.rating = std::nan("");
  EXPECT_THROW(s->append("u", {e}), userllm::Error);
  EXPECT_EQ(s->num_users(), 0);
}

TEST(Store, AppendManyIsOneTransaction) {
  userllm::test::ScratchDir dir;
  auto s = Store::open(dir / "store.db", kId);
  s->append_many({{"a", {ev(1), ev(2)}}, {"b", {ev(5)}}, {"a", {ev(3)}}});
  EXPECT_EQ(s->num_users(), 2);
  EXPECT_EQ(s->num_events(), 4);
  EXPECT_EQ(s->user("a")->version, 2);
  try {
    s->append_many({{"c", {ev(1)}}, {"b", {ev(6), ev(4)}}});
    FAIL() << "accepted an earlier timestamp";
  } catch (const userllm::Error& e) {
    EXPECT_STREQ(e.what(), "user 'b': event 1: timestamp 4 is earlier than the user's last event (6)");
  }
  EXPECT_FALSE(s->user("c"));
  EXPECT_EQ(s->num_events(), 4);
}

TEST(Store, VersionCountsCallsThatAcceptedEvents) {
  userllm::test::ScratchDir dir;
  auto s = Store::open(dir / "store.db", kId);
  EXPECT_EQ(s->append("u", {}).version, 0);
  EXPECT_FALSE(s->user("u"));  // an empty first append creates nobody
  EXPECT_EQ(s->append("u", {ev(1, "a"), ev(2, "b")}).version, 1);
  EXPECT_EQ(s->append("u", {ev(3, "c")}).version, 2);
  EXPECT_EQ(s->append("u", {ev(3, "c")}).version, 2);  // nothing new
  EXPECT_EQ(s->append("u", {}).version, 2);
  EXPECT_EQ(s->append("u", {ev(4)}).version, 3);
  EXPECT_EQ(s->user("u")->version, 3);
}

TEST(Store, LastEvents) {
  userllm::test::ScratchDir dir;
  auto s = Store::open(dir / "store.db", kId);
  for (int i = 0; i < 5; i++) s->append("u", {ev(i)});
  auto last = s->last_events("u", 2);
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last[0].seq, 3);
  EXPECT_EQ(last[1].seq, 4);
  EXPECT_EQ(last[1].timestamp, 4);
  EXPECT_EQ(s->last_events("u", 10).size(), 5u);
  EXPECT_TRUE(s->last_events("u", 0).empty());
  EXPECT_TRUE(s->last_events("nobody", 3).empty());
}

TEST(Store, EraseRemovesEventsAndState) {
  userllm::test::ScratchDir dir;
  auto s = Store::open(dir / "store.db", kId);
  s->append("u", {ev(10, "a"), ev(20, "b")});
  s->append("v", {ev(1)});
  s->put_state("u", {"enc", 2, "bytes"});
  EXPECT_TRUE(s->erase("u"));
  EXPECT_FALSE(s->user("u"));
  EXPECT_TRUE(s->events("u").empty());
  EXPECT_FALSE(s->state("u"));
  EXPECT_FALSE(s->erase("u"));
  EXPECT_EQ(s->num_users(), 1);
  EXPECT_EQ(s->num_events(), 1);
  // A new history: seq from 0, earlier timestamps and the old ids are fine again.
  auto r = s->append("u", {ev(5, "a")});
  EXPECT_TRUE(r.created);
  EXPECT_EQ(r.accepted, 1);
  EXPECT_EQ(r.version, 1);
  EXPECT_EQ(s->events("u")[0].seq, 0);
}

TEST(Store, StateRoundTripAndKeptByAppend) {
  userllm::test::ScratchDir dir;
  auto s = Store::open(dir / "store.db", kId);
  s->append("u", {ev(1, "a"), ev(2, "b")});
  EXPECT_FALSE(s->state("u"));
  const std::string bytes("\0\x01\xff state", 9);
  s->put_state("u", {"encoder-v1", 2, bytes});
  auto st = s->state("u");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->encoder, "encoder-v1");
  EXPECT_EQ(st->events, 2);
  EXPECT_EQ(st->bytes, bytes);
  s->put_state("u", {"encoder-v2", 1, ""});  // replaces; a state may cover a prefix
  EXPECT_EQ(s->state("u")->encoder, "encoder-v2");
  EXPECT_EQ(s->state("u")->bytes, "");
  s->append("u", {ev(2, "b")});  // a retry changes no history: the state stays
  EXPECT_TRUE(s->state("u"));
  s->append("u", {ev(3, "c")});  // new events: the state still covers the first one
  ASSERT_TRUE(s->state("u"));
  EXPECT_EQ(s->state("u")->events, 1);
  EXPECT_THROW(s->put_state("nobody", {"e", 0, ""}), userllm::Error);
  EXPECT_THROW(s->put_state("u", {"e", 4, ""}), userllm::Error);  // more events than the user has
}

TEST(Store, AnotherIdentityIsRefusedAndTheFileUntouched) {
  userllm::test::ScratchDir dir;
  const fs::path file = dir / "store.db";
  make_store(file);
  const std::string before = slurp(file);
  const auto mtime = fs::last_write_time(file);
  for (const StoreIdentity& other : {StoreIdentity{"run-other", kId.fields},
                                     StoreIdentity{kId.run, {"item", "genre"}},
                                     StoreIdentity{kId.run, {"genre", "item", "rating"}}}) {
    std::string msg = refusal(file, other);
    EXPECT_EQ(msg.rfind(file.string() + ": this store belongs to another run (", 0), 0u) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  EXPECT_EQ(slurp(file), before);
  EXPECT_EQ(fs::last_write_time(file), mtime);
  EXPECT_EQ(Store::open(file, kId)->num_events(), 300);
}

TEST(Store, NewerSchemaIsRefused) {
  userllm::test::ScratchDir dir;
  const fs::path file = dir / "store.db";
  make_store(file);
  sql(file, "UPDATE meta SET value = '2' WHERE key = 'schema_version'");
  const std::string before = slurp(file);
  EXPECT_EQ(refusal(file), file.string() + ": store schema version 2 is newer than this userllm (1)");
  EXPECT_EQ(slurp(file), before);
}

TEST(Store, OtherSqliteDatabaseIsRefused) {
  userllm::test::ScratchDir dir;
  const fs::path file = dir / "other.db";
  sql(file, "CREATE TABLE notes(x TEXT); INSERT INTO notes VALUES('keep me')");
  const std::string before = slurp(file);
  std::string msg = refusal(file);
  EXPECT_EQ(msg.rfind(file.string() + ": not a userllm store", 0), 0u) << msg;
  EXPECT_EQ(slurp(file), before);
  sql(file, "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO meta VALUES('format', 'x')");
  msg = refusal(file);
  EXPECT_EQ(msg.rfind(file.string() + ": not a userllm store", 0), 0u) << msg;
}

TEST(Store, GarbageFileIsRefused) {
  userllm::test::ScratchDir dir;
  const fs::path file = dir / "garbage.db";
  std::mt19937 rng(7);
  std::string bytes(10000, '\0');
  for (char& c : bytes) c = char(rng());
  std::ofstream(file, std::ios::binary) << bytes;
  std::string msg = refusal(file);
  EXPECT_EQ(msg.rfind(file.string() + ": not a userllm store: ", 0), 0u) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_EQ(slurp(file), bytes);
  EXPECT_FALSE(fs::exists(file.string() + "-wal"));
}

TEST(Store, TruncatedStoreIsRefused) {
  userllm::test::ScratchDir dir;
  const fs::path file = dir / "store.db";
  make_store(file);
  std::string bytes = slurp(file);
  ASSERT_GT(bytes.size(), 16384u);
  bytes.resize(bytes.size() / 2);
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  std::string msg = refusal(file);
  EXPECT_EQ(msg.rfind(file.string() + ": not a userllm store: ", 0), 0u) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_EQ(slurp(file), bytes);
}

TEST(Store, WrongTokenBlobIsACorruptStore) {
  userllm::test::ScratchDir dir;
  const fs::path file = dir / "store.db";
  Store::open(file, kId)->append("u", {ev(1), ev(2)});
  sql(file, "UPDATE events SET tokens = x'010203' WHERE seq = 1");
  auto s = Store::open(file, kId);
  try {
    s->events("u");
    FAIL() << "read a 3-byte tokens blob";
  } catch (const userllm::Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(file.string() + ": corrupt store: user 'u', seq 1: ", 0), 0u) << e.what();
  }
}

TEST(Store, CountsAndFileBytes) {
  userllm::test::ScratchDir dir;
  const fs::path file = dir / "store.db";
  auto s = Store::open(file, kId);
  EXPECT_EQ(s->num_users(), 0);
  EXPECT_EQ(s->num_events(), 0);
  const uint64_t empty = s->file_bytes();
  EXPECT_GT(empty, 0u);
  std::vector<NewEvent> events;
  for (int i = 0; i < 200; i++) {
    events.push_back(ev(i));
    events.back().text = std::string(200, 'x');
  }
  s->append("a", events);
  s->append("b", {ev(1)});
  EXPECT_EQ(s->num_users(), 2);
  EXPECT_EQ(s->num_events(), 201);
  EXPECT_GT(s->file_bytes(), empty + 200 * 200);
  s->close();
  EXPECT_FALSE(fs::exists(file.string() + "-wal"));  // checkpointed
  auto again = Store::open(file, kId);
  EXPECT_GT(again->file_bytes(), 200u * 200u);
  EXPECT_EQ(again->num_events(), 201);
}

TEST(Store, ConcurrentAppendsAllLand) {
  userllm::test::ScratchDir dir;
  auto s = Store::open(dir / "store.db", kId);
  constexpr int kThreads = 4, kCalls = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++)
    threads.emplace_back([&, t] {
      const std::string user = "user" + std::to_string(t);
      for (int i = 0; i < kCalls; i++) s->append(user, {ev(2 * i, "a" + std::to_string(i)), ev(2 * i + 1)});
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(s->num_users(), kThreads);
  EXPECT_EQ(s->num_events(), kThreads * kCalls * 2);
  for (int t = 0; t < kThreads; t++) {
    auto u = s->user("user" + std::to_string(t));
    ASSERT_TRUE(u);
    EXPECT_EQ(u->events, kCalls * 2);
    EXPECT_EQ(u->version, kCalls);
    EXPECT_EQ(s->events(u->user).back().seq, kCalls * 2 - 1);
  }
}
