// The daemon's journald integration: log mirrors, ingest sockets, and where its own messages go.
export { DaemonJournal } from './daemon-journal.js';
export { JournalIngest, identifierFileName, type IngestOptions, type IngestStats } from './ingest.js';
export { daemonLogOutput, type LogOutput, type LogOutputOptions } from './log-output.js';
export { JournalMirrors, type MirrorSource, type MirrorStats } from './mirror.js';
export { loadJournalSettings, type IngestSettings, type JournalSettings, type MirrorSettings } from './settings.js';
