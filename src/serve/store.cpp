#include "serve/store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <system_error>
#include <unordered_map>
#include <unordered_set>

#include "common/error.h"
#include "common/one_line.h"

namespace userllm::serve {

namespace fs = std::filesystem;

namespace {

struct CloseDb {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct FinalizeStmt {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, CloseDb>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, FinalizeStmt>;

const char* const kFormat = "userllm-store";

// Tables with a sqlite_master entry are how open() tells a new file from an existing store.
const char* const kSchema = R"(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE users(user TEXT PRIMARY KEY, events INTEGER NOT NULL, last_timestamp INTEGER NOT NULL,
                   version INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE events(user TEXT NOT NULL REFERENCES users(user) ON DELETE CASCADE, seq INTEGER NOT NULL,
                    event_id TEXT, item TEXT NOT NULL, rating REAL, timestamp INTEGER NOT NULL,
                    text TEXT NOT NULL, tokens BLOB NOT NULL, PRIMARY KEY(user, seq)) WITHOUT ROWID;
CREATE UNIQUE INDEX events_by_id ON events(user, event_id) WHERE event_id IS NOT NULL;
CREATE TABLE states(user TEXT PRIMARY KEY REFERENCES users(user) ON DELETE CASCADE, encoder TEXT NOT NULL,
                    events INTEGER NOT NULL, bytes BLOB NOT NULL);
)";

// Tokens as little-endian u32, whatever the host's byte order.
std::string pack_tokens(const std::vector<uint32_t>& t) {
  std::string b(t.size() * 4, '\0');
  for (size_t i = 0; i < t.size(); i++)
    for (int k = 0; k < 4; k++) b[4 * i + k] = char((t[i] >> (8 * k)) & 0xff);
  return b;
}

std::vector<uint32_t> unpack_tokens(const std::string& b) {
  std::vector<uint32_t> t(b.size() / 4);
  for (size_t i = 0; i < t.size(); i++)
    for (int k = 0; k < 4; k++) t[i] |= uint32_t(uint8_t(b[4 * i + k])) << (8 * k);
  return t;
}

std::string describe(const StoreIdentity& id) {
  return "run '" + id.run + "', fields " + nlohmann::json(id.fields).dump();
}

}  // namespace

struct Store::Conn {
  std::string file;  // for messages
  DbPtr db;          // declared before stmts: statements are finalized first
  std::unordered_map<std::string, StmtPtr> stmts;

  [[noreturn]] void error() const { fail(file + ": " + one_line(sqlite3_errmsg(db.get()))); }
  void exec(const char* sql) {
    if (sqlite3_exec(db.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK) error();
  }
  // Prepared once per connection and reused: requests repeat the same few statements. So one SQL
  // text is in use by one Query at a time.
  sqlite3_stmt* prepare(const char* sql) {
    StmtPtr& s = stmts[sql];
    if (!s) {
      sqlite3_stmt* raw = nullptr;
      if (sqlite3_prepare_v3(db.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) error();
      s.reset(raw);
    }
    return s.get();
  }
};

namespace {

// A cached statement in use; reset on scope exit so that no read snapshot stays open (it would
// hold back WAL checkpoints).
class Query {
 public:
  Query(Store::Conn& c, const char* sql) : c_(c), s_(c.prepare(sql)) {}
  ~Query() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(int i, const std::string& v) {
    return check(sqlite3_bind_text(s_, i, v.data(), int(v.size()), SQLITE_TRANSIENT));
  }
  Query& bind(int i, int64_t v) { return check(sqlite3_bind_int64(s_, i, v)); }
  Query& bind(int i, std::optional<double> v) {
    return check(v ? sqlite3_bind_double(s_, i, *v) : sqlite3_bind_null(s_, i));
  }
  Query& bind_null(int i) { return check(sqlite3_bind_null(s_, i)); }
  // An empty blob through bind_blob would be NULL, which the NOT NULL columns refuse.
  Query& bind_blob(int i, const std::string& v) {
    return check(v.empty() ? sqlite3_bind_zeroblob(s_, i, 0)
                           : sqlite3_bind_blob(s_, i, v.data(), int(v.size()), SQLITE_TRANSIENT));
  }

  // True while a row is available.
  bool step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) c_.error();
    return false;
  }
  void run() {
    while (step()) {
    }
  }

  bool is_null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  double real(int c) const { return sqlite3_column_double(s_, c); }
  std::string str(int c) const {  // text or blob, NUL bytes included
    const char* p = static_cast<const char*>(sqlite3_column_blob(s_, c));
    return p ? std::string(p, size_t(sqlite3_column_bytes(s_, c))) : std::string();
  }

 private:
  Query& check(int rc) {
    if (rc != SQLITE_OK) c_.error();
    return *this;
  }
  Store::Conn& c_;
  sqlite3_stmt* s_;
};

// BEGIN IMMEDIATE takes the write lock up front, so a transaction never fails half way on a lock
// held by another connection; anything but commit() rolls back.
class Transaction {
 public:
  explicit Transaction(Store::Conn& c) : c_(c) { c_.exec("BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!sqlite3_get_autocommit(c_.db.get())) sqlite3_exec(c_.db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() { c_.exec("COMMIT"); }

 private:
  Store::Conn& c_;
};

// The first line of PRAGMA quick_check, or sqlite's error (a file that is not a database fails here).
std::string quick_check(sqlite3* db) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &raw, nullptr) != SQLITE_OK) return sqlite3_errmsg(db);
  StmtPtr s(raw);
  if (sqlite3_step(raw) != SQLITE_ROW) return sqlite3_errmsg(db);
  const unsigned char* row = sqlite3_column_text(raw, 0);
  return row ? reinterpret_cast<const char*>(row) : "";
}

}  // namespace

Store::Store(fs::path file, StoreIdentity id)
    : path_(std::move(file)), id_(std::move(id)), conn_(std::make_unique<Conn>()) {
  conn_->file = path_.string();
}

Store::~Store() {
  try {
    close();
  } catch (...) {
  }
}

namespace {

// Everything up to the identity check only reads, so a refused file is left as it was.
void init(Store::Conn& c, const StoreIdentity& id) {
  const std::string& name = c.file;
  sqlite3* raw = nullptr;
  // NOMUTEX: every call already holds Store::mu_.
  int rc = sqlite3_open_v2(name.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  c.db.reset(raw);  // a handle comes back even on failure
  if (rc != SQLITE_OK) fail(name + ": cannot open store: " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  sqlite3_busy_timeout(raw, 10000);

  std::string check = quick_check(raw);
  if (check != "ok") fail(name + ": not a userllm store: " + one_line(check));
  c.exec("PRAGMA foreign_keys=ON");
  c.exec("PRAGMA synchronous=FULL");

  {
    Transaction t(c);  // two processes creating the same file: the second sees the first's schema
    int64_t objects = 0, has_meta = 0;
    {
      Query q(c, "SELECT count(*), coalesce(sum(type = 'table' AND name = 'meta'), 0) FROM sqlite_master");
      q.step();
      objects = q.i64(0);
      has_meta = q.i64(1);
    }
    if (objects == 0) {
      // A new file, or one left empty by a crash before its schema was committed.
      c.exec(kSchema);
      const std::pair<std::string, std::string> meta[] = {{"format", kFormat},
                                                          {"schema_version", std::to_string(Store::kSchemaVersion)},
                                                          {"run", id.run},
                                                          {"fields", nlohmann::json(id.fields).dump()}};
      for (const auto& [key, value] : meta)
        Query(c, "INSERT INTO meta(key, value) VALUES(?, ?)").bind(1, key).bind(2, value).run();
    } else {
      if (!has_meta) fail(name + ": not a userllm store: it has no meta table");
      std::unordered_map<std::string, std::string> meta;
      {
        Query q(c, "SELECT key, value FROM meta");
        while (q.step()) meta[q.str(0)] = q.str(1);
      }
      if (meta["format"] != kFormat) fail(name + ": not a userllm store: its format is '" + meta["format"] + "'");
      const std::string& v = meta["schema_version"];
      if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos)
        fail(name + ": not a userllm store: bad schema_version '" + one_line(v) + "'");
      if (std::stoi(v) > Store::kSchemaVersion)
        fail(name + ": store schema version " + v + " is newer than this userllm (" +
             std::to_string(Store::kSchemaVersion) + ")");
      // Older versions would be migrated here; version 1 is the first.
      StoreIdentity stored{meta["run"], {}};
      try {
        stored.fields = nlohmann::json::parse(meta["fields"]).get<std::vector<std::string>>();
      } catch (const std::exception&) {
        fail(name + ": not a userllm store: bad fields '" + one_line(meta["fields"]) + "'");
      }
      if (stored.run != id.run || stored.fields != id.fields)
        fail(name + ": this store belongs to another run (store: " + describe(stored) + "; asked for: " +
             describe(id) + ")");
    }
    t.commit();
  }

  // Only now, on a file known to be ours: switching to WAL rewrites the header.
  std::string mode;
  {
    Query q(c, "PRAGMA journal_mode=WAL");
    if (q.step()) mode = q.str(0);
  }
  if (mode != "wal") fail(name + ": cannot use WAL journaling here (journal mode stays '" + mode + "')");
}

}  // namespace

std::unique_ptr<Store> Store::open(const fs::path& file, const StoreIdentity& id) {
  std::unique_ptr<Store> s(new Store(file, id));
  try {
    init(*s->conn_, id);
  } catch (...) {
    s->conn_->stmts.clear();  // closed without close()'s checkpoint: a refused file is not written
    s->conn_->db.reset();
    throw;
  }
  return s;
}

Store::Conn& Store::conn() const {
  if (!conn_->db) fail(path_.string() + ": store is closed");
  return *conn_;
}

AppendResult Store::apply(const std::string& user, const std::vector<NewEvent>& events, const std::string& where) {
  Conn& c = conn();
  AppendResult r;
  std::optional<int64_t> last;  // none for a new user: any first timestamp goes
  {
    Query q(c, "SELECT events, last_timestamp, version FROM users WHERE user = ?");
    q.bind(1, user);
    if (q.step()) {
      r.total = q.i64(0);
      last = q.i64(1);
      r.version = q.i64(2);
    }
  }
  const bool known = last.has_value();

  std::vector<const NewEvent*> keep;
  std::unordered_set<std::string> ids;
  for (size_t i = 0; i < events.size(); i++) {
    const NewEvent& e = events[i];
    const std::string at = where + "event " + std::to_string(i) + ": ";
    if (e.tokens.size() != id_.fields.size())
      fail(at + "has " + std::to_string(e.tokens.size()) + " tokens, the store's identity has " +
           std::to_string(id_.fields.size()) + " fields");
    if (e.rating && !std::isfinite(*e.rating)) fail(at + "rating is not a finite number");
    if (!e.id.empty()) {
      if (!ids.insert(e.id).second) continue;  // repeated in this call
      if (known) {
        Query q(c, "SELECT 1 FROM events WHERE user = ? AND event_id = ?");
        q.bind(1, user).bind(2, e.id);
        if (q.step()) continue;  // a retry of a stored event
      }
    }
    if (last && e.timestamp < *last)
      fail(at + "timestamp " + std::to_string(e.timestamp) + " is earlier than the user's last event (" +
           std::to_string(*last) + ")");
    last = e.timestamp;
    keep.push_back(&e);
  }
  if (keep.empty()) return r;

  r.created = !known;
  r.accepted = int64_t(keep.size());
  r.version++;
  // The users row first: the events reference it.
  Query(c,
        "INSERT INTO users(user, events, last_timestamp, version) VALUES(?1, ?2, ?3, ?4) "
        "ON CONFLICT(user) DO UPDATE SET events = ?2, last_timestamp = ?3, version = ?4")
      .bind(1, user)
      .bind(2, r.total + r.accepted)
      .bind(3, *last)
      .bind(4, r.version)
      .run();
  for (const NewEvent* e : keep) {
    Query q(c,
            "INSERT INTO events(user, seq, event_id, item, rating, timestamp, text, tokens) "
            "VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
    q.bind(1, user).bind(2, r.total++);
    if (e->id.empty())
      q.bind_null(3);
    else
      q.bind(3, e->id);
    q.bind(4, e->item).bind(5, e->rating).bind(6, e->timestamp).bind(7, e->text).bind_blob(8, pack_tokens(e->tokens));
    q.run();
  }
  return r;  // a cached state covers a prefix of the history, which appending does not change
}

AppendResult Store::append(const std::string& user, const std::vector<NewEvent>& events) {
  std::lock_guard<std::mutex> lock(mu_);
  Transaction t(conn());
  AppendResult r = apply(user, events, "");
  t.commit();
  return r;
}

void Store::append_many(const std::vector<std::pair<std::string, std::vector<NewEvent>>>& users) {
  std::lock_guard<std::mutex> lock(mu_);
  Transaction t(conn());
  for (const auto& [user, events] : users) apply(user, events, "user '" + user + "': ");
  t.commit();
}

std::optional<UserInfo> Store::user(const std::string& user) const {
  std::lock_guard<std::mutex> lock(mu_);
  Query q(conn(), "SELECT events, last_timestamp, version FROM users WHERE user = ?");
  q.bind(1, user);
  if (!q.step()) return std::nullopt;
  return UserInfo{user, q.i64(0), q.i64(1), q.i64(2)};
}

std::vector<bool> Store::has_ids(const std::string& user, const std::vector<std::string>& ids) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<bool> out;
  for (const auto& id : ids) {
    if (id.empty()) {
      out.push_back(false);
      continue;
    }
    Query q(conn(), "SELECT 1 FROM events WHERE user = ? AND event_id = ?");
    q.bind(1, user).bind(2, id);
    out.push_back(q.step());
  }
  return out;
}

std::vector<StoredEvent> Store::read_events(const std::string& user, int64_t from) const {
  Conn& c = conn();
  Query q(c,
          "SELECT seq, event_id, item, rating, timestamp, text, tokens FROM events "
          "WHERE user = ? AND seq >= ? ORDER BY seq");
  q.bind(1, user).bind(2, from);
  std::vector<StoredEvent> out;
  for (int64_t expect = from; q.step(); expect++) {
    StoredEvent e;
    e.seq = q.i64(0);
    const std::string at = c.file + ": corrupt store: user '" + user + "', seq " + std::to_string(e.seq) + ": ";
    if (e.seq != expect) fail(at + "expected seq " + std::to_string(expect));
    e.id = q.str(1);
    e.item = q.str(2);
    if (!q.is_null(3)) e.rating = q.real(3);
    e.timestamp = q.i64(4);
    e.text = q.str(5);
    std::string blob = q.str(6);
    if (blob.size() != 4 * id_.fields.size())
      fail(at + "tokens blob has " + std::to_string(blob.size()) + " bytes, expected " +
           std::to_string(4 * id_.fields.size()));
    e.tokens = unpack_tokens(blob);
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<StoredEvent> Store::events(const std::string& user, int64_t from) const {
  std::lock_guard<std::mutex> lock(mu_);
  return read_events(user, std::max<int64_t>(from, 0));
}

std::vector<StoredEvent> Store::last_events(const std::string& user, int64_t n) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (n <= 0) return {};
  int64_t total = 0;
  {
    Query q(conn(), "SELECT events FROM users WHERE user = ?");
    q.bind(1, user);
    if (!q.step()) return {};
    total = q.i64(0);
  }
  return read_events(user, std::max<int64_t>(total - n, 0));
}

bool Store::erase(const std::string& user) {
  std::lock_guard<std::mutex> lock(mu_);
  Conn& c = conn();
  Transaction t(c);
  // Explicit rather than through ON DELETE CASCADE, which depends on PRAGMA foreign_keys.
  Query(c, "DELETE FROM states WHERE user = ?").bind(1, user).run();
  Query(c, "DELETE FROM events WHERE user = ?").bind(1, user).run();
  Query(c, "DELETE FROM users WHERE user = ?").bind(1, user).run();
  const bool found = sqlite3_changes(c.db.get()) > 0;
  t.commit();
  return found;
}

void Store::put_state(const std::string& user, const EncoderStateBlob& s) {
  std::lock_guard<std::mutex> lock(mu_);
  Conn& c = conn();
  Transaction t(c);
  {
    Query q(c, "SELECT events FROM users WHERE user = ?");
    q.bind(1, user);
    if (!q.step()) fail("put_state: unknown user '" + user + "'");
    if (s.events < 0 || s.events > q.i64(0))
      fail("put_state: the state covers " + std::to_string(s.events) + " events, user '" + user + "' has " +
           std::to_string(q.i64(0)));
  }
  Query(c,
        "INSERT INTO states(user, encoder, events, bytes) VALUES(?1, ?2, ?3, ?4) "
        "ON CONFLICT(user) DO UPDATE SET encoder = ?2, events = ?3, bytes = ?4")
      .bind(1, user)
      .bind(2, s.encoder)
      .bind(3, s.events)
      .bind_blob(4, s.bytes)
      .run();
  t.commit();
}

std::optional<EncoderStateBlob> Store::state(const std::string& user) const {
  std::lock_guard<std::mutex> lock(mu_);
  Query q(conn(), "SELECT encoder, events, bytes FROM states WHERE user = ?");
  q.bind(1, user);
  if (!q.step()) return std::nullopt;
  return EncoderStateBlob{q.str(0), q.i64(1), q.str(2)};
}

int64_t Store::num_users() const {
  std::lock_guard<std::mutex> lock(mu_);
  Query q(conn(), "SELECT count(*) FROM users");
  q.step();
  return q.i64(0);
}

int64_t Store::num_events() const {
  std::lock_guard<std::mutex> lock(mu_);
  Query q(conn(), "SELECT coalesce(sum(events), 0) FROM users");  // not count(*): no scan of every event
  q.step();
  return q.i64(0);
}

uint64_t Store::file_bytes() const {
  uint64_t total = 0;
  for (const fs::path& p : {path_, fs::path(path_.string() + "-wal")}) {
    std::error_code ec;
    uint64_t n = fs::file_size(p, ec);
    if (!ec) total += n;
  }
  return total;
}

void Store::close() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!conn_->db) return;
  // BUSY: another connection still reads the file; the last one to close checkpoints.
  int rc = sqlite3_wal_checkpoint_v2(conn_->db.get(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  std::string error = rc == SQLITE_OK || rc == SQLITE_BUSY ? "" : sqlite3_errmsg(conn_->db.get());
  conn_->stmts.clear();
  conn_->db.reset();
  if (!error.empty()) fail(path_.string() + ": checkpoint at close: " + one_line(error));
}

}  // namespace userllm::serve
