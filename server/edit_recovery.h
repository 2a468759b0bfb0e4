// Startup recovery from the edit journal: serves exactly the committed edits again and re-queues the ones
// that had not ended, so that a restart — even after kill -9 at any moment — continues where the server was.
#pragma once

#include <functional>

#include "absl/status/statusor.h"
#include "server/edit_journal.h"
#include "server/edit_registry.h"
#include "server/edit_request.h"
#include "server/served_model.h"

namespace muke::server {

struct RecoveryCounts {
  int edits = 0;       // edits found in the journal
  int applied = 0;     // COMMITTED edits whose weights are served again
  int requeued = 0;    // unfinished edits queued again
  int failed = 0;      // unfinished edits that could not be planned any more (now FAILED)
};

// Plans an edit request (PlanEdit with the server's current limits).
using PlanFn = std::function<absl::StatusOr<EditPlan>(const muke::v1::EditKnowledgeRequest&)>;

// Replays `contents` (from EditJournal::Open) onto a freshly loaded `model` and into an empty `registry`:
// COMMITTED records apply their journaled weights in order; ROLLED_BACK records (and a FAILED or CANCELLED
// record that follows a COMMITTED one) put back the tensors that edit replaced; edits whose last record is
// QUEUED are re-queued. DATA_LOSS when a committed edit's weights are missing or damaged, or the records
// contradict each other (a rollback of an edit that is not the newest applied): the server must not serve
// a state the journal does not describe.
absl::StatusOr<RecoveryCounts> RecoverEdits(const EditJournal::Contents& contents, const EditJournal& journal,
                                            ServedModel& model, EditRegistry& registry, const PlanFn& plan);

}  // namespace muke::server
