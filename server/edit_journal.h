// The edit journal: an append-only, fsync'd log of what happened to each edit (accepted, committed with its
// weights, failed or cancelled, rolled back), from which a restarted server rebuilds exactly the committed
// state and re-queues the edits that had not ended. Lives in one directory:
//   edits.journal            8-byte magic "MUKEJNL1", then records: u32 magic "MKJR", u32 payload length,
//                            u32 CRC-32C of (length, payload), payload = a serialized muke.server.JournalRecord
//                            (little-endian; one write + fdatasync per record)
//   weights/<edit>.safetensors  the tensors a COMMITTED edit wrote (written and fsync'd before its record)
//   edits.journal.corrupt-<time>  a damaged tail cut off at open, kept for inspection
//   model                    the fingerprint of the unedited model the edits were made to (see BindModel)
// The directory is locked (flock) while open, so two servers cannot share it. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/safetensors.h"
#include "muke/server/journal.pb.h"

namespace muke::server {

struct JournalOptions {
  // Test hook for crash-consistency checks: the N-th record appended by this process (1-based; 0 = never)
  // is written only halfway, synced, and the process then kills itself with SIGKILL — a torn write.
  int torn_write_record = 0;
};

class EditJournal {
 public:
  // What Open read back.
  struct Contents {
    std::vector<JournalRecord> records;  // the valid records, in order
    // Problems found and repaired, which the server logs and counts: kind "corrupt_record" (a torn or damaged
    // tail cut off) or "orphan_weights" (a weights file no commit record refers to, removed).
    struct Repair {
      std::string kind;
      std::string message;
    };
    std::vector<Repair> repairs;
  };

  // Opens `dir`/edits.journal (creating the directory and an empty journal when missing) and reads it. A torn
  // or corrupt record at the end (nothing valid after it) is cut off and saved beside the journal; DATA_LOSS
  // when valid records follow a damaged one (the log cannot be trusted: an operator must look), when the
  // file is not a journal, or FAILED_PRECONDITION when another process holds the directory.
  static absl::StatusOr<std::unique_ptr<EditJournal>> Open(const std::string& dir, Contents* contents,
                                                           JournalOptions options = {});
  ~EditJournal();

  // Ties the journal to the unedited model `fingerprint` (ModelFingerprint before any edit): recorded on
  // first use; FAILED_PRECONDITION (naming both) when the journal was written for another model, whose edited
  // tensors must not be replayed onto this one.
  absl::Status BindModel(const std::string& fingerprint, const std::string& model_dir);

  // Appends one record and fdatasyncs it. On failure the file is cut back to its previous size.
  absl::Status Append(const JournalRecord& record);
  // A COMMITTED edit: writes `weights` to weights/<id>.safetensors (fsync'd), then appends `edit` with the
  // file's name, size and CRC-32C. The edit is durable once this returns OK.
  absl::Status AppendCommit(const muke::v1::Edit& edit, const TensorMap& weights);
  // The weights of a COMMITTED record, after checking the file's size and CRC-32C (DATA_LOSS otherwise).
  absl::StatusOr<TensorMap> ReadWeights(const JournalRecord& record, const TensorLoadOptions& options) const;

  const std::string& dir() const { return dir_; }
  // Bytes of the journal file and the weight files together.
  int64_t size_bytes() const;

 private:
  EditJournal(std::string dir, int fd, int64_t size, int64_t weights_bytes, JournalOptions options);

  const std::string dir_;
  const int fd_;  // the journal file, opened for appending; holds the flock
  const JournalOptions options_;
  mutable std::mutex mu_;
  int64_t size_;  // of the journal file
  int64_t weights_bytes_;
  int appended_ = 0;
};

}  // namespace muke::server
