/*
 * Lock-free, append-only string interning (domains, messages).
 *
 * Insertion claims an id with fetch-add and arena bytes with a CAS, writes the entry, publishes
 * it (ready), then links the id into an open-addressing index with a CAS. Two threads
 * inserting the same text at once may both get ids; the loser adopts the winner's id
 * and its own id stays unused (the sender still sends it; the receiver merges by text).
 * Nothing here blocks or allocates after init.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

static const char OVERFLOW_TEXT[] = "(other)";

static uint64_t hash_text(const char *text, size_t length) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (size_t i = 0; i < length; i++) h = (h ^ (uint8_t)text[i]) * 0x100000001b3ull;
  return h | 1; /* never 0 */
}

int gw_intern_init(gw_intern_table *table, uint32_t capacity, uint32_t arena_size) {
  memset(table, 0, sizeof *table);
  uint32_t slots = 1;
  while (slots < capacity * 2) slots <<= 1;
  table->capacity = capacity;
  table->slot_mask = slots - 1;
  table->arena_size = arena_size;
  table->next_id = 1;
  table->slots = calloc(slots, sizeof *table->slots);
  table->entries = calloc(capacity, sizeof *table->entries);
  table->arena = malloc(arena_size);
  if (!table->slots || !table->entries || !table->arena) return 0;
  table->overflow_id = gw_intern(table, OVERFLOW_TEXT, sizeof OVERFLOW_TEXT - 1);
  return table->overflow_id != 0;
}

static int same_text(const gw_intern_table *table, uint32_t id, uint64_t hash, const char *text, size_t length) {
  const gw_intern_entry *entry = &table->entries[id];
  return entry->hash == hash && entry->length == length && memcmp(table->arena + entry->offset, text, length) == 0;
}

uint32_t gw_intern(gw_intern_table *table, const char *text, size_t length) {
  if (length > GW_MAX_STRING_BYTES) length = GW_MAX_STRING_BYTES;
  uint64_t hash = hash_text(text, length);
  uint32_t slot = (uint32_t)hash & table->slot_mask;

  /* Lookup: ids enter the index only after their entry is ready. */
  for (uint32_t probe = 0; probe <= table->slot_mask; probe++) {
    uint32_t id = gw_load_acquire(&table->slots[(slot + probe) & table->slot_mask]);
    if (id == 0) break;
    if (same_text(table, id, hash, text, length)) return id;
  }

  uint32_t id = __atomic_fetch_add(&table->next_id, 1, __ATOMIC_RELAXED);
  if (id >= table->capacity) return table->overflow_id;
  /* Arena bytes by compare-and-swap, not fetch-add: a text that does not fit must not use up
   * the rest of the arena, so shorter texts after it still get their own ids. */
  uint32_t offset = gw_load_relaxed(&table->arena_used);
  while (offset + length <= table->arena_size &&
         !__atomic_compare_exchange_n(&table->arena_used, &offset, offset + (uint32_t)length, 1, __ATOMIC_RELAXED,
                                      __ATOMIC_RELAXED)) {}
  gw_intern_entry *entry = &table->entries[id];
  if (offset + length > table->arena_size) {
    /* The id is spent; publish it as an empty string so the sender's scan moves on. */
    entry->hash = 0;
    entry->length = 0;
    entry->offset = 0;
    gw_store_release(&entry->ready, 1);
    return table->overflow_id;
  }
  memcpy(table->arena + offset, text, length);
  entry->hash = hash;
  entry->offset = offset;
  entry->length = (uint16_t)length;
  gw_store_release(&entry->ready, 1);

  for (uint32_t probe = 0; probe <= table->slot_mask; probe++) {
    uint32_t *cell = &table->slots[(slot + probe) & table->slot_mask];
    uint32_t seen = 0;
    if (__atomic_compare_exchange_n(cell, &seen, id, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return id;
    if (same_text(table, seen, hash, text, length)) return seen;
  }
  return table->overflow_id; /* unreachable: the index has twice as many slots as ids */
}

uint32_t gw_intern_find(const gw_intern_table *table, const char *text) {
  size_t length = strlen(text);
  uint64_t hash = hash_text(text, length);
  uint32_t slot = (uint32_t)hash & table->slot_mask;
  for (uint32_t probe = 0; probe <= table->slot_mask; probe++) {
    uint32_t id = gw_load_acquire(&table->slots[(slot + probe) & table->slot_mask]);
    if (id == 0) return 0;
    if (same_text(table, id, hash, text, length)) return id;
  }
  return 0;
}

uint32_t gw_intern_count(const gw_intern_table *table) {
  uint32_t n = gw_load_acquire(&table->next_id);
  return n < table->capacity ? n : table->capacity;
}

const char *gw_intern_text(const gw_intern_table *table, uint32_t id, uint16_t *length) {
  if (id == 0 || id >= table->capacity) return NULL;
  const gw_intern_entry *entry = &table->entries[id];
  if (!gw_load_acquire(&entry->ready)) return NULL;
  *length = entry->length;
  return table->arena + entry->offset;
}
