/* The pool of large upload buffers; see upload_buffers.h. */
#include "upload_buffers.h"

#include <stdlib.h>

unsigned char *ex_upload_buffers_take(ex_upload_buffers *buffers)
{
	unsigned char *buffer = NULL;

	pthread_mutex_lock(&buffers->mutex);
	if (buffers->idle_count > 0) {
		buffer = buffers->idle[--buffers->idle_count];
	} else if (buffers->allocated < EX_UPLOAD_BUFFERS_MAX) {
		buffer = malloc(EX_UPLOAD_BUFFER_LARGE);
		if (buffer != NULL)
			buffers->allocated++;
	}
	pthread_mutex_unlock(&buffers->mutex);
	return buffer;
}

void ex_upload_buffers_give(ex_upload_buffers *buffers, unsigned char *buffer)
{
	if (buffer == NULL)
		return;
	pthread_mutex_lock(&buffers->mutex);
	/* At most EX_UPLOAD_BUFFERS_MAX buffers exist, so idle[] has room for each one given back. */
	buffers->idle[buffers->idle_count++] = buffer;
	pthread_mutex_unlock(&buffers->mutex);
}

void ex_upload_buffers_free(ex_upload_buffers *buffers)
{
	for (size_t i = 0; i < buffers->idle_count; i++)
		free(buffers->idle[i]);
	buffers->idle_count = 0;
	buffers->allocated = 0;
}
