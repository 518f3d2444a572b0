-- Bytes of vCards per address book, kept by a trigger on contact_cards,
-- so the contacts quota check of a PUT sums one row per address book of
-- the user instead of reading every vCard.
--
-- addressbooks.octets is the sum of octet_length(vcard) of the book's
-- vCards. The trigger changes it in the same transaction as the vCards,
-- for every writer (CardDAV, the JSON API, imports). A book deleted with
-- its vCards takes its counter with it, so no cascade has to update it.
-- addressbooks keeps its row-level security: the trigger, running as the
-- writer, touches only books of the bound tenant.

ALTER TABLE addressbooks ADD COLUMN octets bigint NOT NULL DEFAULT 0;

CREATE FUNCTION ex_contact_cards_octets() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
	IF TG_OP IN ('UPDATE', 'DELETE') THEN
		UPDATE public.addressbooks SET octets = octets - octet_length(OLD.vcard) WHERE id = OLD.addressbook_id;
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') THEN
		UPDATE public.addressbooks SET octets = octets + octet_length(NEW.vcard) WHERE id = NEW.addressbook_id;
	END IF;
	RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION ex_contact_cards_octets() FROM PUBLIC;

CREATE TRIGGER contact_cards_octets
	AFTER INSERT OR DELETE OR UPDATE OF vcard, addressbook_id ON contact_cards
	FOR EACH ROW EXECUTE FUNCTION ex_contact_cards_octets();

-- Existing vCards: row-level security is forced on the owner too, so each
-- tenant is bound in turn. owner_lookup lets the owner list the tenants
-- through users.
DO $$
DECLARE
	tenant uuid;
BEGIN
	FOR tenant IN SELECT DISTINCT tenant_id FROM users LOOP
		PERFORM set_config('app.tenant_id', tenant::text, true);
		UPDATE addressbooks AS b SET octets = coalesce(
			(SELECT sum(octet_length(c.vcard)) FROM contact_cards AS c WHERE c.addressbook_id = b.id), 0);
	END LOOP;
	PERFORM set_config('app.tenant_id', '', true);
END
$$;
