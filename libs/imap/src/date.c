/*
 * IMAP date and date-time parsing and formatting, with the civil-calendar
 * arithmetic done here so the result does not depend on the local time zone.
 */
#include "expresso/imap_date.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "imap_chars.h"

static const char *const month_names[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

static bool is_leap(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int year, int month)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Reads exactly COUNT digits at TEXT[*I]. */
static bool read_digits(const char *text, size_t length, size_t *i, size_t count, int *value)
{
	int result = 0;
	for (size_t k = 0; k < count; k++) {
		if (*i >= length || !is_digit(text[*i]))
			return false;
		result = result * 10 + (text[*i] - '0');
		(*i)++;
	}
	*value = result;
	return true;
}

/* Parses "d-Mon-yyyy" starting at TEXT[*I]; the day is one or two digits, or SP DIGIT when SPACE_DAY. */
static const char *parse_date_at(const char *text, size_t length, size_t *i, bool space_day,
				 ex_imap_date *date)
{
	int day = 0;

	if (space_day && *i < length && text[*i] == ' ')
		(*i)++;
	if (*i >= length || !is_digit(text[*i]))
		return "Invalid date: expected the day as digits, as in 5-Dec-2026";
	day = text[(*i)++] - '0';
	if (*i < length && is_digit(text[*i]))
		day = day * 10 + (text[(*i)++] - '0');
	if (*i >= length || text[*i] != '-')
		return "Invalid date: expected '-' after the day";
	(*i)++;

	if (length - *i < 4)
		return "Invalid date: expected a month name such as Dec";
	int month = 0;
	for (int m = 0; m < 12; m++) {
		if (ex_imap_ascii_casecmp_n(text + *i, month_names[m], 3)) {
			month = m + 1;
			break;
		}
	}
	if (month == 0)
		return "Invalid date: unknown month name, expected Jan to Dec";
	*i += 3;
	if (text[*i] != '-')
		return "Invalid date: expected '-' after the month";
	(*i)++;

	int year;
	if (!read_digits(text, length, i, 4, &year))
		return "Invalid date: expected a four-digit year";
	if (day < 1 || day > days_in_month(year, month))
		return "Invalid date: day out of range for the month";

	date->year = year;
	date->month = month;
	date->day = day;
	return NULL;
}

const char *ex_imap_date_parse(const char *text, size_t length, ex_imap_date *date)
{
	size_t i = 0;
	const char *error = parse_date_at(text, length, &i, false, date);
	if (error != NULL)
		return error;
	if (i != length)
		return "Invalid date: unexpected text after the year";
	return NULL;
}

int64_t ex_imap_date_to_days(const ex_imap_date *date)
{
	/* Howard Hinnant's days_from_civil. */
	int64_t year = date->year - (date->month <= 2 ? 1 : 0);
	int64_t era = (year >= 0 ? year : year - 399) / 400;
	int64_t year_of_era = year - era * 400;
	int64_t month = date->month;
	int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + date->day - 1;
	int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
	return era * 146097 + day_of_era - 719468;
}

const char *ex_imap_datetime_parse(const char *text, size_t length, ex_imap_datetime *datetime)
{
	ex_imap_date date;
	size_t i = 0;
	const char *error = parse_date_at(text, length, &i, true, &date);
	if (error != NULL)
		return error;

	int hour;
	int minute;
	int second;
	if (i >= length || text[i++] != ' ')
		return "Invalid date-time: expected a space after the date";
	if (!read_digits(text, length, &i, 2, &hour) || i >= length || text[i++] != ':' ||
	    !read_digits(text, length, &i, 2, &minute) || i >= length || text[i++] != ':' ||
	    !read_digits(text, length, &i, 2, &second))
		return "Invalid date-time: expected the time as hh:mm:ss";
	if (hour > 23 || minute > 59 || second > 60)
		return "Invalid date-time: time out of range";

	if (i >= length || text[i++] != ' ')
		return "Invalid date-time: expected a space before the zone";
	if (i >= length || (text[i] != '+' && text[i] != '-'))
		return "Invalid date-time: expected the zone as +hhmm or -hhmm";
	int sign = text[i++] == '-' ? -1 : 1;
	int zone_hours;
	int zone_minutes;
	if (!read_digits(text, length, &i, 2, &zone_hours) ||
	    !read_digits(text, length, &i, 2, &zone_minutes))
		return "Invalid date-time: expected the zone as +hhmm or -hhmm";
	if (zone_minutes > 59)
		return "Invalid date-time: zone minutes out of range";
	if (i != length)
		return "Invalid date-time: unexpected text after the zone";

	int offset = sign * (zone_hours * 60 + zone_minutes);
	int64_t local = ex_imap_date_to_days(&date) * 86400 + hour * 3600 + minute * 60 + second;
	datetime->time = local - (int64_t)offset * 60;
	datetime->offset_minutes = offset;
	return NULL;
}

void ex_imap_datetime_format(int64_t time, int offset_minutes, char out[EX_IMAP_DATETIME_LENGTH + 1])
{
	int64_t local = time + (int64_t)offset_minutes * 60;
	int64_t days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
	int64_t seconds = local - days * 86400;

	/* Howard Hinnant's civil_from_days. */
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t day_of_era = z - era * 146097;
	int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
	int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
	int64_t mp = (5 * day_of_year + 2) / 153;
	int day = (int)(day_of_year - (153 * mp + 2) / 5 + 1);
	int month = (int)(mp < 10 ? mp + 3 : mp - 9);
	int year = (int)(year_of_era + era * 400 + (month <= 2 ? 1 : 0));

	int zone = offset_minutes < 0 ? -offset_minutes : offset_minutes;
	if (year < 0)
		year = 0;
	if (year > 9999)
		year = 9999;
	char text[64];
	snprintf(text, sizeof(text), "%02d-%s-%04d %02d:%02d:%02d %c%02d%02d",
		 day, month_names[month - 1], year, (int)(seconds / 3600),
		 (int)(seconds / 60 % 60), (int)(seconds % 60), offset_minutes < 0 ? '-' : '+',
		 (zone / 60) % 100, zone % 60);
	memcpy(out, text, EX_IMAP_DATETIME_LENGTH);
	out[EX_IMAP_DATETIME_LENGTH] = '\0';
}
