/* JournalSender: the native sender thread of JournalClient (src/journal/native-client.ts). */
#ifndef LOGWARDEN_JOURNAL_SENDER_H
#define LOGWARDEN_JOURNAL_SENDER_H

#include <node_api.h>

/* Set in an entry's length (push()): the entry never shares a datagram with others. */
#define LW_JOURNAL_ALONE 0x80000000u

/* Defines the JournalSender class on exports. */
napi_status lw_journal_sender_init(napi_env env, napi_value exports);

#endif
