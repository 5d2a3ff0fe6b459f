// The serving layer's user-event store: one SQLite file holding every user's
// event history (already mapped to encoder ids) and the engine's cached
// encoder state. WAL with synchronous=FULL, so an acknowledged write survives
// kill -9 and power loss; every write is one all-or-nothing transaction.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace userllm::serve {

struct StoreIdentity {
  std::string run;                  // fingerprint of the run the store serves (opaque, e.g. a hash)
  std::vector<std::string> fields;  // encoder field names, in order (each event stores one id per field)
};

struct NewEvent {
  std::string item;  // the item's key in the source data (dataset item token)
  std::optional<double> rating;
  int64_t timestamp = 0;         // Unix seconds
  std::string text;              // may be empty
  std::string id;                // client event id; "" = none (then never deduplicated)
  std::vector<uint32_t> tokens;  // one id per identity field (already mapped by the caller)
};

struct StoredEvent {
  int64_t seq = 0;  // 0-based position in the user's history
  std::string item;
  std::optional<double> rating;
  int64_t timestamp = 0;
  std::string text;
  std::string id;
  std::vector<uint32_t> tokens;
};

struct UserInfo {
  std::string user;
  int64_t events = 0;
  int64_t last_timestamp = 0;
  int64_t version = 0;
};

struct AppendResult {
  int64_t accepted = 0;
  int64_t total = 0;
  int64_t version = 0;
  bool created = false;
};

struct EncoderStateBlob {  // opaque cached state
  std::string encoder;
  int64_t events = 0;
  std::string bytes;
};

class Store {
 public:
  static constexpr int kSchemaVersion = 1;

  // Opens or creates FILE. A new file (or an SQLite file with no tables) gets the schema and the
  // identity. An existing one must be a userllm store of schema version <= kSchemaVersion with the
  // same identity; a refused file is never modified. Errors are one line naming FILE.
  static std::unique_ptr<Store> open(const std::filesystem::path& file, const StoreIdentity& id);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Appends events to USER's history in order, creating the user on first append; one transaction.
  // Events whose non-empty id is already stored for this user (or repeated earlier in the call) are
  // skipped and not counted in `accepted`. `version` grows by one per call that accepted an event.
  // Refused as a whole: tokens.size() != identity.fields.size(), a non-finite rating, or a timestamp
  // earlier than the user's last one ("event N: ..." with N the index in EVENTS).
  AppendResult append(const std::string& user, const std::vector<NewEvent>& events);
  // Many users in one transaction (seeding from a dataset); same rules, errors prefixed "user U: ".
  void append_many(const std::vector<std::pair<std::string, std::vector<NewEvent>>>& users);

  std::optional<UserInfo> user(const std::string& user) const;
  // Whether USER already has an event with each of these ids ("" = never).
  std::vector<bool> has_ids(const std::string& user, const std::vector<std::string>& ids) const;
  // Events with seq >= from, in order (from = 0: the whole history). Empty for an unknown user.
  std::vector<StoredEvent> events(const std::string& user, int64_t from = 0) const;
  // The last n events, in order.
  std::vector<StoredEvent> last_events(const std::string& user, int64_t n) const;
  // Erases the user everywhere (events, state, users row); false when unknown.
  bool erase(const std::string& user);

  // Cached encoder state of a known user over the first s.events events of its history (appends
  // keep it: the engine steps the events after it). erase() deletes it. s.events must be within
  // the user's history.
  void put_state(const std::string& user, const EncoderStateBlob& s);
  std::optional<EncoderStateBlob> state(const std::string& user) const;

  int64_t num_users() const;
  int64_t num_events() const;
  uint64_t file_bytes() const;  // database + WAL size on disk
  const std::filesystem::path& path() const { return path_; }
  const StoreIdentity& identity() const { return id_; }
  // Checkpoints the WAL and closes; later calls fail. The destructor does the same, ignoring errors.
  void close();

  struct Conn;  // the sqlite3 connection and its prepared statements (store.cpp)

 private:
  Store(std::filesystem::path file, StoreIdentity id);
  Conn& conn() const;
  // One user's share of append() / append_many(), inside the caller's transaction; WHERE prefixes
  // the messages about bad events.
  AppendResult apply(const std::string& user, const std::vector<NewEvent>& events, const std::string& where);
  std::vector<StoredEvent> read_events(const std::string& user, int64_t from) const;

  std::filesystem::path path_;
  StoreIdentity id_;
  mutable std::mutex mu_;
  std::unique_ptr<Conn> conn_;
};

}  // namespace userllm::serve
