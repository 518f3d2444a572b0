/*
 * Error page texts and rendering. The texts are fixed strings; the only
 * variable part is the reference, which is escaped. Pages carry no script
 * and load nothing, so the Content-Security-Policy that the handlers send
 * with them can forbid everything but inline style.
 */
#include "error_page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	const char *title;
	const char *message;
} page_text;

typedef struct {
	unsigned status;
	const char *code;
	page_text text[2]; /* indexed by ex_rp_language */
} page_definition;

static const page_definition pages[EX_RP_PAGE_COUNT] = {
	[EX_RP_PAGE_LOGIN_UNKNOWN] = {
		400, "login_unknown",
		{ { "Login não encontrado",
		    "Este pedido de login é desconhecido ou já foi usado. Entre novamente." },
		  { "Login not found",
		    "This login request is unknown or has already been used. Please sign in again." } } },
	[EX_RP_PAGE_LOGIN_EXPIRED] = {
		400, "login_expired",
		{ { "Login expirado",
		    "O tempo para concluir o login acabou. Entre novamente." },
		  { "Login expired",
		    "The time allowed to finish signing in has run out. Please sign in again." } } },
	[EX_RP_PAGE_PROVIDER_UNREACHABLE] = {
		502, "provider_unreachable",
		{ { "Serviço de login indisponível",
		    "Não foi possível contatar o provedor de identidade. Tente novamente em alguns minutos." },
		  { "Sign-in service unavailable",
		    "The identity provider could not be reached. Try again in a few minutes." } } },
	[EX_RP_PAGE_ACCESS_DENIED] = {
		403, "access_denied",
		{ { "Acesso negado",
		    "O provedor de identidade negou o acesso desta conta ao Expresso. "
		    "Se você acha que isso é um erro, procure o suporte." },
		  { "Access denied",
		    "The identity provider denied this account access to Expresso. "
		    "If you think this is a mistake, contact support." } } },
	[EX_RP_PAGE_PROVIDER_ERROR] = {
		502, "provider_error",
		{ { "Erro no provedor de identidade",
		    "O provedor de identidade informou um erro. Entre novamente; se o erro continuar, "
		    "procure o suporte." },
		  { "Identity provider error",
		    "The identity provider reported an error. Please sign in again; if the error persists, "
		    "contact support." } } },
	[EX_RP_PAGE_LOGIN_FAILED] = {
		400, "login_failed",
		{ { "Falha no login",
		    "Não foi possível concluir o login com a resposta do provedor de identidade. Entre novamente." },
		  { "Sign-in failed",
		    "Signing in could not be completed with the identity provider's response. Please sign in again." } } },
	[EX_RP_PAGE_INTERNAL] = {
		500, "internal_error",
		{ { "Erro interno",
		    "Ocorreu um erro interno no Expresso. Tente novamente em alguns minutos." },
		  { "Internal error",
		    "An internal error occurred in Expresso. Try again in a few minutes." } } },
};

static const char *const again_label[2] = { "Entrar novamente", "Sign in again" };
static const char *const reference_label[2] = { "Referência para o suporte", "Reference for support" };

static const page_definition *definition_of(ex_rp_page page)
{
	return (unsigned)page < EX_RP_PAGE_COUNT ? &pages[page] : &pages[EX_RP_PAGE_INTERNAL];
}

unsigned ex_rp_page_status(ex_rp_page page)
{
	return definition_of(page)->status;
}

const char *ex_rp_page_code(ex_rp_page page)
{
	return definition_of(page)->code;
}

/* Copies TEXT into OUT with the five HTML special characters escaped. */
static void escape_html(const char *text, char *out, size_t out_size)
{
	size_t used = 0;
	for (const char *p = text; *p && used + 7 < out_size; p++) {
		const char *entity = NULL;
		switch (*p) {
		case '&': entity = "&amp;"; break;
		case '<': entity = "&lt;"; break;
		case '>': entity = "&gt;"; break;
		case '"': entity = "&quot;"; break;
		case '\'': entity = "&#39;"; break;
		default: break;
		}
		if (entity != NULL) {
			size_t length = strlen(entity);
			memcpy(out + used, entity, length);
			used += length;
		} else {
			out[used++] = *p;
		}
	}
	out[used] = '\0';
}

/* A macro, not an array, so the compiler checks the format arguments. */
#define PAGE_FORMAT \
	"<!DOCTYPE html>\n" \
	"<html lang=\"%s\">\n" \
	"<head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">" \
	"<title>%s – Expresso</title>\n" \
	"<style>body{font-family:sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#1f2430}" \
	"a{color:#0b5cad}.reference{color:#5b6270;font-size:small}</style></head>\n" \
	"<body>\n<h1>%s</h1>\n<p>%s</p>\n<p><a href=\"/auth/login\">%s</a></p>\n" \
	"<p class=\"reference\">%s: %s</p>\n</body>\n</html>\n"

char *ex_rp_page_render(ex_rp_page page, ex_rp_language language, const char *reference)
{
	char escaped_reference[256];
	int index = language == EX_RP_LANGUAGE_EN ? 1 : 0;
	const page_text *text = &definition_of(page)->text[index];

	escape_html(reference ? reference : "-", escaped_reference, sizeof(escaped_reference));
	int length = snprintf(NULL, 0, PAGE_FORMAT, ex_rp_language_tag(language), text->title, text->title, text->message,
			      again_label[index], reference_label[index], escaped_reference);
	if (length < 0)
		return NULL;
	char *html = malloc((size_t)length + 1);
	if (html == NULL)
		return NULL;
	snprintf(html, (size_t)length + 1, PAGE_FORMAT, ex_rp_language_tag(language), text->title, text->title,
		 text->message, again_label[index], reference_label[index], escaped_reference);
	return html;
}
