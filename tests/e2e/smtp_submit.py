"""Submit one message as a mail client does, with Python's smtplib.

Connects to the submission port, runs EHLO, STARTTLS (verifying the
server certificate against the CA file), EHLO again, AUTH PLAIN with the
given login and app password, then sends the message file. With the
optional last argument "implicit" it connects with TLS from the start
(port 465) instead of STARTTLS. Prints one
JSON object: {"stage": ..., "code": ..., "message": ...} for the step
that ended the session, and exits 0 only when the message was accepted.

Usage: smtp_submit.py HOST PORT CA_FILE LOGIN PASSWORD FROM TO MESSAGE_FILE [implicit]
"""
import json
import smtplib
import ssl
import sys


def main():
    host, port, ca_file, login, password, sender, recipient, message_file = sys.argv[1:9]
    implicit = sys.argv[9:10] == ['implicit']
    with open(message_file, 'rb') as handle:
        message = handle.read()

    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = False
    stage = 'connect'
    try:
        if implicit:
            client = smtplib.SMTP_SSL(host, int(port), timeout=30, context=context)
        else:
            client = smtplib.SMTP(host, int(port), timeout=30)
        with client:
            if not implicit:
                stage = 'starttls'
                client.starttls(context=context)
            client.ehlo()
            stage = 'auth'
            client.user, client.password = login, password
            client.auth('PLAIN', client.auth_plain)
            stage = 'send'
            rejected_recipients = client.sendmail(sender, [recipient], message)
            print(json.dumps({'stage': 'done', 'code': 250, 'message': json.dumps(rejected_recipients)}))
            return 0
    except smtplib.SMTPResponseException as error:
        text = error.smtp_error.decode('utf-8', 'replace') if isinstance(error.smtp_error, bytes) else str(error.smtp_error)
        print(json.dumps({'stage': stage, 'code': error.smtp_code, 'message': text}))
    except smtplib.SMTPRecipientsRefused as error:
        code, text = next(iter(error.recipients.values()))
        print(json.dumps({'stage': stage, 'code': code, 'message': text.decode('utf-8', 'replace')}))
    return 1


if __name__ == '__main__':
    sys.exit(main())
