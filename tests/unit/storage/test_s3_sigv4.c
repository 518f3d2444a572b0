/*
 * AWS Signature Version 4 as the S3 backend sends it: libcurl signs each
 * request (CURLOPT_AWS_SIGV4), set up by s3_configure_easy. Each case is
 * a published AWS example with its fixed X-Amz-Date, sent to a loopback
 * listener that captures the Authorization header. The expected values
 * are AWS's: get-vanilla and post-vanilla of the SigV4 test suite
 * (AKIDEXAMPLE, 20150830T123600Z, us-east-1, service "service") and the
 * GET Object example with a Range header of the S3 API reference
 * ("Signature Calculations for the Authorization Header").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../../libs/storage/src/s3_request.h"

typedef struct {
	int listener;
	char request[4096];
} capture;

/* Accepts one connection, keeps the request head, and replies 200 with no body. */
static void *capture_one(void *context)
{
	capture *cap = context;
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	size_t used = 0;

	int connection = accept(cap->listener, NULL, NULL);
	if (connection < 0)
		return NULL;
	while (used + 1 < sizeof(cap->request) && strstr(cap->request, "\r\n\r\n") == NULL) {
		ssize_t got = recv(connection, cap->request + used, sizeof(cap->request) - 1 - used, 0);
		if (got <= 0)
			break;
		used += (size_t)got;
		cap->request[used] = '\0';
	}
	ssize_t sent = send(connection, reply, sizeof(reply) - 1, 0);
	(void)sent;
	close(connection);
	return NULL;
}

/* Sends one request configured like the S3 backend's and returns its Authorization value in OUT. */
static void signed_authorization(const char *sigv4, const char *user, const char *method, const char *url,
				 const char *host, const char *const *headers, char *out, size_t size)
{
	static capture cap;
	struct sockaddr_in address = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t length = sizeof(address);
	char connect_to[128];
	pthread_t thread;

	memset(&cap, 0, sizeof(cap));
	cap.listener = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(cap.listener >= 0);
	assert_int_equal(bind(cap.listener, (struct sockaddr *)&address, sizeof(address)), 0);
	assert_int_equal(listen(cap.listener, 1), 0);
	assert_int_equal(getsockname(cap.listener, (struct sockaddr *)&address, &length), 0);
	assert_int_equal(pthread_create(&thread, NULL, capture_one, &cap), 0);

	char endpoint[] = "http://127.0.0.1";
	char bucket[] = "bucket";
	/* USER is "<access key>:<secret key>", split at its last ':' because an access key may contain one. */
	char access_key[128];
	const char *colon = strrchr(user, ':');
	assert_non_null(colon);
	assert_true((size_t)(colon - user) < sizeof(access_key));
	memcpy(access_key, user, (size_t)(colon - user));
	access_key[colon - user] = '\0';
	char secret_key[128];
	snprintf(secret_key, sizeof(secret_key), "%s", colon + 1);
	s3_storage storage = { .endpoint = endpoint, .bucket = bucket, .access_key = access_key,
			       .secret_key = secret_key, .timeout_ms = 5000 };
	snprintf(storage.sigv4, sizeof(storage.sigv4), "%s", sigv4);

	CURL *easy = curl_easy_init();
	struct curl_slist *list = NULL;
	for (size_t i = 0; headers[i] != NULL; i++)
		list = curl_slist_append(list, headers[i]);
	snprintf(connect_to, sizeof(connect_to), "%s:80:127.0.0.1:%u", host, (unsigned)ntohs(address.sin_port));
	struct curl_slist *connect_list = curl_slist_append(NULL, connect_to);
	s3_configure_easy(&storage, easy);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_CONNECT_TO, connect_list);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list);
	if (strcmp(method, "GET") != 0)
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
	assert_int_equal(curl_easy_perform(easy), CURLE_OK);
	curl_easy_cleanup(easy);
	curl_slist_free_all(list);
	curl_slist_free_all(connect_list);
	pthread_join(thread, NULL);
	close(cap.listener);

	const char *start = strstr(cap.request, "\r\nAuthorization: ");
	assert_non_null(start);
	start += strlen("\r\nAuthorization: ");
	size_t value_length = strcspn(start, "\r\n");
	assert_true(value_length < size);
	memcpy(out, start, value_length);
	out[value_length] = '\0';
}

static void sigv4_get_vanilla(void **state)
{
	(void)state;
	const char *headers[] = { "X-Amz-Date: 20150830T123600Z", NULL };
	char authorization[512];

	signed_authorization("aws:amz:us-east-1:service", "AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "GET",
			     "http://example.amazonaws.com/", "example.amazonaws.com", headers, authorization,
			     sizeof(authorization));
	assert_string_equal(authorization,
			    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
			    "SignedHeaders=host;x-amz-date, "
			    "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

static void sigv4_post_vanilla(void **state)
{
	(void)state;
	const char *headers[] = { "X-Amz-Date: 20150830T123600Z", NULL };
	char authorization[512];

	signed_authorization("aws:amz:us-east-1:service", "AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "POST",
			     "http://example.amazonaws.com/", "example.amazonaws.com", headers, authorization,
			     sizeof(authorization));
	assert_string_equal(authorization,
			    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
			    "SignedHeaders=host;x-amz-date, "
			    "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

/*
 * get-vanilla with tempauth's access key form "account:user" (Swift's
 * s3api). The expected value is botocore's SigV4Auth for the same request,
 * which returns the published signature for the AWS example key.
 */
static void sigv4_access_key_with_colon(void **state)
{
	(void)state;
	const char *headers[] = { "X-Amz-Date: 20150830T123600Z", NULL };
	char authorization[512];

	signed_authorization("aws:amz:us-east-1:service", "test:tester:testing", "GET", "http://example.amazonaws.com/",
			     "example.amazonaws.com", headers, authorization, sizeof(authorization));
	assert_string_equal(authorization,
			    "AWS4-HMAC-SHA256 Credential=test:tester/20150830/us-east-1/service/aws4_request, "
			    "SignedHeaders=host;x-amz-date, "
			    "Signature=fa227e7967b2c33bacc2fe53d9f22a97f930ee2587184072ed3f42a955ae92df");
}

static void sigv4_s3_get_object_range(void **state)
{
	(void)state;
	const char *headers[] = { "X-Amz-Date: 20130524T000000Z", "Range: bytes=0-9",
				  "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
				  NULL };
	char authorization[512];

	signed_authorization("aws:amz:us-east-1:s3", "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
			     "GET", "http://examplebucket.s3.amazonaws.com/test.txt", "examplebucket.s3.amazonaws.com",
			     headers, authorization, sizeof(authorization));
	assert_string_equal(authorization,
			    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
			    "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
			    "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

/* The payload hash the backend sends for an empty body and for "hello", from memory and from a file. */
static void payload_sha256(void **state)
{
	(void)state;
	char hex[65];
	s3_body hello = { .memory = (const unsigned char *)"hello", .fd = -1, .length = 5 };
	char path[] = "/tmp/expresso-s3-body-XXXXXX";
	int fd = mkstemp(path);

	assert_int_equal(s3_body_sha256(NULL, hex), 0);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(s3_body_sha256(&hello, hex), 0);
	assert_string_equal(hex, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "xxhelloxx", 9), 9);
	s3_body region = { .fd = fd, .offset = 2, .length = 5 };
	assert_int_equal(s3_body_sha256(&region, hex), 0);
	assert_string_equal(hex, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sigv4_get_vanilla),
		cmocka_unit_test(sigv4_post_vanilla),
		cmocka_unit_test(sigv4_access_key_with_colon),
		cmocka_unit_test(sigv4_s3_get_object_range),
		cmocka_unit_test(payload_sha256),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return failed;
}
