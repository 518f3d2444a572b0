/*
 * IMAP dates: date ("5-Dec-2026" in SEARCH) and date-time
 * ("05-Dec-2026 10:00:00 -0300" in APPEND and INTERNALDATE), RFC 3501
 * section 9. Month names are case-insensitive; days are checked against
 * the month, leap years included.
 */
#ifndef EXPRESSO_IMAP_DATE_H
#define EXPRESSO_IMAP_DATE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	int year;
	int month;  /* 1-12 */
	int day;    /* 1-31 */
} ex_imap_date;

typedef struct {
	int64_t time;          /* seconds since 1970-01-01 00:00:00 UTC */
	int offset_minutes;    /* the zone the client gave, east of UTC */
} ex_imap_datetime;

/* Length of a formatted date-time without quotes or NUL. */
#define EX_IMAP_DATETIME_LENGTH 26

/* Parses date: 1*2DIGIT "-" Mon "-" 4DIGIT. Returns NULL or what is wrong. */
const char *ex_imap_date_parse(const char *text, size_t length, ex_imap_date *date);

/* Parses date-time without its quotes; the day may be " 5", "05" or "5". */
const char *ex_imap_datetime_parse(const char *text, size_t length, ex_imap_datetime *datetime);

/* Days from 1970-01-01 to DATE (negative before). */
int64_t ex_imap_date_to_days(const ex_imap_date *date);

/* Writes "dd-Mon-yyyy hh:mm:ss +zzzz" plus a NUL into OUT, the time shown in the zone of OFFSET_MINUTES. */
void ex_imap_datetime_format(int64_t time, int offset_minutes, char out[EX_IMAP_DATETIME_LENGTH + 1]);

#endif
