// Generated from the Rust `commonboard-protocol` crate. Do not edit by hand:
// run `UPDATE_BINDINGS=1 cargo test -p commonboard-protocol` to regenerate.

export type BoardMeta = { title: string, template: string, createdAt: number, 
/**
 * The note chosen as the common goal, if a vote chose one.
 */
commonGoal: string | null, };

export type Note = { id: string, text: string, x: number, y: number, w: number, h: number, color: string, author: string, frame: string | null, createdAt: number, 
/**
 * One of [`note_kind`]; absent for a plain note.
 */
kind?: string, authorId?: string, 
/**
 * An obstacle's remedy note, or a remedy's obstacle.
 */
pair?: string, 
/**
 * A team's row of the collaborators table.
 */
team?: TeamFields, };

export type TeamFields = { expectsOfUs: string, weExpect: string, 
/**
 * 0 (never) to 4 (daily).
 */
interaction: number, 
/**
 * 0 (never) to 4 (daily).
 */
conflict: number, 
/**
 * The team the group chose to approach first.
 */
chosen: boolean, };

export type Frame = { id: string, title: string, x: number, y: number, w: number, h: number, createdAt: number, 
/**
 * The workshop step it holds, for frames made from a template.
 */
step?: string, guide?: string, 
/**
 * What notes inside it are in the workshop method (see [`frame::AREA`]).
 */
area?: string, };

export type Action = { id: string, text: string, owner: string, due: string, done: boolean, createdAt: number, };

export type BoardSnapshot = { meta: BoardMeta, notes: Array<Note>, frames: Array<Frame>, actions: Array<Action>, };

export type ClientMessage = { "type": "hello", 
/**
 * The application protocol version the client speaks.
 */
version: number, } | { "type": "lock", locked: boolean, } | { "type": "open_vote", settings: VoteSettings, } | { "type": "cast_vote", vote: string, candidate: string, } | { "type": "retract_vote", vote: string, candidate: string, } | { "type": "close_vote", vote: string, } | { "type": "reveal_vote", vote: string, } | { "type": "set_step", step?: number, } | { "type": "set_timer", seconds?: number, } | { "type": "set_private", private: boolean, } | { "type": "put_private_note", note: Note, } | { "type": "delete_private_note", id: string, } | { "type": "start_turns", people: Array<TurnPerson>, } | { "type": "turn", action: TurnAction, } | { "type": "show_viewport", viewport: Viewport, bring: boolean, } | { "type": "set_name", name: string, };

export type ServerMessage = { "type": "welcome", 
/**
 * The application protocol version the server speaks.
 */
version: number, 
/**
 * The server's identifier for this connection, unique while the board is loaded.
 */
connection: number, 
/**
 * The role this connection holds on the board.
 */
role: Role, 
/**
 * The person id this connection's changes, notes and votes are recorded under:
 * issued by the server, never chosen by the client.
 */
identity: string, 
/**
 * For a participant who came with a shared link: a personal token for the
 * person the server just issued. The client keeps it (per board) and opens the
 * board with it from then on, on this device or another, to stay that person.
 */
token?: string, 
/**
 * The display name the server has for this connection.
 */
name: string, 
/**
 * Whether the board is locked (only the facilitator may change it).
 */
locked: boolean, 
/**
 * Server time in milliseconds since the Unix epoch, so clients can show
 * server-driven countdowns without trusting their own clock.
 */
server_time_ms: number, } | { "type": "vote", vote: VoteView, } | { "type": "ballot", vote: string, 
/**
 * Votes placed, by candidate.
 */
mine: Array<[string, number]>, 
/**
 * Votes left to place.
 */
remaining: number, } | { "type": "board_state", 
/**
 * Whether only the facilitator may change the board.
 */
locked: boolean, } | { "type": "restored", 
/**
 * The point the board returned to.
 */
to_seq: number, 
/**
 * The new point holding the restore.
 */
seq: number, 
/**
 * Display name of who restored it.
 */
by: string, } | { "type": "workshop", state: WorkshopState, } | { "type": "private_notes", notes: Array<Note>, } | { "type": "viewport", viewport: Viewport, bring: boolean, 
/**
 * Display name of the facilitator whose view it is (for "Following Fran").
 */
by?: string, } | { "type": "error", 
/**
 * Machine-readable reason.
 */
code: ErrorCode, 
/**
 * Human-readable explanation, safe to show to the user.
 */
message: string, };

export type Role = "facilitator" | "participant" | "viewer";

export type VoteSettings = { 
/**
 * What the vote decides, e.g. "Our common goal".
 */
title: string, 
/**
 * Ids of the candidate notes.
 */
candidates: Array<string>, 
/**
 * Votes each person may place in all.
 */
budget: number, 
/**
 * Votes each person may place on one candidate.
 */
max_per_candidate: number, 
/**
 * Whether tallies leave out who voted.
 */
anonymous: boolean, 
/**
 * Whether tallies stay hidden from participants until the facilitator reveals them.
 */
hidden: boolean, 
/**
 * Closes the vote by itself after this many seconds.
 */
duration_s?: number, 
/**
 * Only people holding a personal link the facilitator handed out may vote (a
 * shared participant link cannot stop one person from opening it twice).
 */
roster: boolean, };

export type VoteView = { id: string, settings: VoteSettings, open: boolean, 
/**
 * Whether the tally is shown to everyone.
 */
revealed: boolean, 
/**
 * Server time the vote opened, milliseconds since the Unix epoch.
 */
opened_at_ms: number, 
/**
 * Server time the vote closes (or closed) by itself, if it has a timer.
 */
closes_at_ms?: number, 
/**
 * Candidates ranked by votes (absent while hidden from this client).
 */
tally?: Array<Tally>, 
/**
 * How many people voted and how many are present (the facilitator's view only).
 */
turnout?: Turnout, };

export type Tally = { candidate: string, votes: number, 
/**
 * Who voted (display names) and how many votes each; absent for anonymous votes.
 */
voters?: Array<[string, number]>, };

export type Turnout = { 
/**
 * People who placed at least one vote.
 */
voted: number, 
/**
 * People connected now who may vote (on the roster, for a roster vote).
 */
present: number, };

export type ErrorCode = "unsupported_version" | "forbidden" | "invalid_vote" | "no_such_vote" | "vote_closed" | "not_a_candidate" | "over_budget" | "over_candidate_limit" | "nothing_to_retract" | "invalid_request" | "limit_reached";

export type CreateBoardRequest = { 
/**
 * Shown at the top of the board and in lists.
 */
title: string, 
/**
 * Name of the template to start from; blank when absent.
 */
template?: string, };

export type BoardInfo = { 
/**
 * Unguessable identifier (128 random bits, hex).
 */
id: string, 
/**
 * The board's title.
 */
title: string, 
/**
 * Template the board was created from (`blank` when none).
 */
template: string, 
/**
 * Creation time, RFC 3339.
 */
created_at: string, 
/**
 * Path of the board's page in the web client.
 */
url: string, 
/**
 * The caller's role on the board (absent when the board was created in open mode
 * and reached without a token).
 */
role?: Role, 
/**
 * The board's access links: returned to its creator and to its facilitator only.
 */
links?: BoardLinks, };

export type ApiError = { 
/**
 * What went wrong, safe to show to the user.
 */
error: string, };

export type BoardLinks = { 
/**
 * Runs the workshop; keep it to yourself.
 */
facilitator: string, 
/**
 * Edits the board; share it with the participants.
 */
participant: string, 
/**
 * Sees the board live without changing it (for example on a big screen).
 */
viewer: string, };

export type MintIdentityRequest = { 
/**
 * The participant's display name.
 */
name: string, };

export type IdentityLink = { 
/**
 * The stable identity the participant's changes are recorded under.
 */
identity: string, 
/**
 * The token (for `?token=` or `Authorization: Bearer`).
 */
token: string, 
/**
 * Path of the board page carrying the token.
 */
url: string, };

export type PresenterLink = { 
/**
 * The token (for `?token=` or `Authorization: Bearer`).
 */
token: string, 
/**
 * Path of the presentation view carrying the token.
 */
url: string, };

export type PersonRemoved = { 
/**
 * The person id now refused on this board.
 */
person: string, 
/**
 * Their connections that were closed.
 */
connections_closed: number, };

export type TemplateInfo = { 
/**
 * What `template` in `POST /api/boards` names it by.
 */
name: string, title: string, description: string, 
/**
 * Titles of the workshop's steps, in order (empty for a free-form board).
 */
steps: Array<string>, };

export type HistoryAuthor = { id: string, name: string, };

export type ChangeKind = "note_added" | "note_edited" | "note_moved" | "note_changed" | "note_deleted" | "frame_added" | "frame_changed" | "frame_deleted" | "action_added" | "action_changed" | "action_deleted" | "board_changed" | "vote_opened" | "vote_closed" | "vote_revealed" | "restored" | "locked" | "unlocked" | "compacted" | "step_changed" | "notes_revealed" | "person_removed" | "root_changed";

export type Change = { kind: ChangeKind, 
/**
 * The note, frame, action or vote changed, when there is one.
 */
id?: string, 
/**
 * The fields that changed, for `*_changed` kinds (empty for others).
 */
fields: Array<string>, 
/**
 * A short excerpt of the item's text or title, to recognise it by.
 */
label?: string, 
/**
 * For `restored` and `compacted`: the point the change refers to.
 */
to_seq?: number, };

export type HistoryEntry = { 
/**
 * The newest point the entry covers: viewing the board here shows the change made.
 */
seq: number, 
/**
 * The oldest point the entry covers (equal to `seq` for a single update).
 */
first_seq: number, 
/**
 * Server time of the newest change, RFC 3339.
 */
at: string, 
/**
 * Server time of the newest change, milliseconds since the Unix epoch.
 */
at_ms: number, author: HistoryAuthor, 
/**
 * Logged updates the entry covers (0 for an event that changed no document).
 */
updates: number, 
/**
 * What changed; empty when an update changed nothing the board schema knows.
 */
changes: Array<Change>, 
/**
 * The changes in words, e.g. `added a note “Pilot in March”; moved 2 notes`.
 */
summary: string, };

export type LogStats = { 
/**
 * The first point whose update is still logged (1 unless compacted).
 */
first_seq: number, 
/**
 * The newest point.
 */
last_seq: number, 
/**
 * Logged updates kept.
 */
updates: number, 
/**
 * Bytes of those updates (payload only).
 */
update_bytes: number, checkpoints: number, 
/**
 * Bytes of the checkpoints' states (payload only).
 */
checkpoint_bytes: number, 
/**
 * Point of the oldest checkpoint (0 when there is none): the earliest point still
 * viewable once compaction dropped what came before.
 */
first_checkpoint: number, 
/**
 * Updates up to this point were dropped by compaction (0 when none were);
 * states before it are available at checkpoints only.
 */
compacted_through: number, };

export type HistoryPage = { entries: Array<HistoryEntry>, 
/**
 * Pass as `before` to read the next (older) page; absent on the last page.
 */
next_before?: number, log: LogStats, };

export type BoardStateAt = { 
/**
 * The point shown.
 */
seq: number, 
/**
 * Server time of that point, RFC 3339.
 */
at: string, 
/**
 * False when compaction dropped the updates leading to the point asked for, so
 * the nearest earlier checkpoint (`seq`) is shown instead.
 */
exact: boolean, board: BoardSnapshot, };

export type ChangedItem = { id: string, fields: Array<string>, };

export type ItemDiff<T> = { 
/**
 * As they are at the later point.
 */
added: Array<T>, 
/**
 * As they were at the earlier point.
 */
removed: Array<T>, changed: Array<ChangedItem>, };

export type BoardDiff = { from: number, to: number, notes: ItemDiff<Note>, frames: ItemDiff<Frame>, actions: ItemDiff<Action>, 
/**
 * Metadata fields that differ (title, common goal).
 */
meta: Array<string>, };

export type TimelineBucket = { 
/**
 * Start of the stretch, milliseconds since the Unix epoch.
 */
start_ms: number, updates: number, 
/**
 * The last point in the stretch.
 */
last_seq: number, };

export type TimelineMarker = { seq: number, at_ms: number, kind: ChangeKind, 
/**
 * Words for the marker, e.g. `vote opened` or `restored to #120`.
 */
label: string, };

export type Timeline = { first_seq: number, last_seq: number, 
/**
 * Time of the first and the last logged update, milliseconds since the Unix epoch.
 */
start_ms: number, end_ms: number, 
/**
 * Equal stretches of time from `start_ms` to `end_ms`, oldest first.
 */
buckets: Array<TimelineBucket>, markers: Array<TimelineMarker>, log: LogStats, };

export type LoggedUpdate = { seq: number, at_ms: number, author: HistoryAuthor, 
/**
 * The Yjs update (v1), base64.
 */
update: string, };

export type UpdatePage = { updates: Array<LoggedUpdate>, 
/**
 * Where the next page starts; absent when the log ends.
 */
next_from?: number, };

export type RestoreRequest = { at?: number, time?: string, 
/**
 * Display name of who restores, for the history (the link's role when absent).
 */
name?: string, };

export type RestoreResult = { 
/**
 * The point the board returned to.
 */
restored_to: number, 
/**
 * The new point holding the restore (the board's newest); equal to the previous
 * newest point when the board already was in that state.
 */
seq: number, 
/**
 * Whether anything changed.
 */
changed: boolean, };

export type StepInfo = { 
/**
 * Stable name, e.g. `obstacles`; the step's frame carries it as `step`.
 */
id: string, title: string, 
/**
 * Whether private writing starts on when the facilitator moves to this step.
 */
private: boolean, 
/**
 * Suggested length of the step, in minutes (the facilitator's timer default).
 */
minutes?: number, };

export type Timer = { 
/**
 * When it reaches zero, milliseconds since the Unix epoch (server clock: clients
 * correct it with the offset the welcome's `server_time_ms` gives them).
 */
ends_at_ms: number, 
/**
 * Its length as started, in seconds.
 */
seconds: number, };

export type TurnPerson = { 
/**
 * The person's identity, or any unique text for someone added by name.
 */
id: string, name: string, };

export type Turns = { people: Array<TurnPerson>, 
/**
 * Index of who speaks now in `people`; absent once everyone passed in a round.
 */
current?: number, 
/**
 * Rounds completed so far (a new round starts after the last person).
 */
round: number, 
/**
 * Ids of the people who passed in this round.
 */
passed: Array<string>, };

export type TurnAction = "next" | "skip" | "back" | "pass" | "end";

export type Viewport = { 
/**
 * Canvas coordinates of the view's centre.
 */
x: number, y: number, 
/**
 * Scale (1 = 100 %).
 */
zoom: number, };

export type Writing = { name: string, notes: number, };

export type WorkshopState = { 
/**
 * The template's steps, in order (empty for a blank board).
 */
steps: Array<StepInfo>, 
/**
 * Index of the current step in `steps`; absent before the workshop starts.
 */
step?: number, timer?: Timer, 
/**
 * Whether new notes are private to their author until the reveal.
 */
private: boolean, 
/**
 * Who is writing privately, and how many notes each holds.
 */
writing: Array<Writing>, turns?: Turns, };

/** Message type of Commonboard application messages (JSON inside a var-length buffer). */
export const MSG_APP = 100;

/** Version of the application protocol. */
export const APP_PROTOCOL_VERSION = 1;

/** Names of the root shared types of a board's Y.Doc. */
export const ROOTS = {
  meta: "meta",
  notes: "notes",
  frames: "frames",
  actions: "actions",
} as const;

/** Field names of the `meta` map. */
export const META_FIELDS = {
  title: "title",
  template: "template",
  createdAt: "createdAt",
  commonGoal: "commonGoal",
} as const;

/** Field names of a note's map. */
export const NOTE_FIELDS = {
  text: "text",
  pos: "pos",
  x: "x",
  y: "y",
  w: "w",
  h: "h",
  color: "color",
  author: "author",
  frame: "frame",
  createdAt: "createdAt",
  kind: "kind",
  authorId: "authorId",
  pair: "pair",
  expectsOfUs: "expectsOfUs",
  weExpect: "weExpect",
  interaction: "interaction",
  conflict: "conflict",
  chosen: "chosen",
} as const;

/** Kinds of note the workshop template uses (a note's `kind`). */
export const NOTE_KINDS = {
  guide: "guide",
  team: "team",
  need: "need",
  goal: "goal",
  obstacle: "obstacle",
  remedy: "remedy",
  followUp: "followup",
} as const;

/** Field names of a frame's map. */
export const FRAME_FIELDS = {
  title: "title",
  x: "x",
  y: "y",
  w: "w",
  h: "h",
  createdAt: "createdAt",
  step: "step",
  guide: "guide",
  area: "area",
} as const;

/** Field names of an action's map. */
export const ACTION_FIELDS = {
  text: "text",
  owner: "owner",
  due: "due",
  done: "done",
  createdAt: "createdAt",
} as const;

/** Colours a note may take. */
export const NOTE_COLORS = ["yellow", "pink", "green", "blue", "orange", "purple"] as const;

/** Size of a new note, in canvas pixels. */
export const NOTE_SIZE = { w: 160, h: 120 } as const;

/** WebSocket close codes the server uses. */
export const CLOSE_CODES = {
  goingAway: 1001,
  invalidData: 1007,
  policy: 1008,
  tooBig: 1009,
  internal: 1011,
  tooSlow: 4508,
  unauthorized: 4401,
  forbidden: 4403,
  boardNotFound: 4404,
  notSaved: 4503,
  tooFast: 4529,
  boardFull: 4530,
  serverFull: 4531,
  tooManyBoards: 4532,
  boardLoading: 4533,
} as const;
