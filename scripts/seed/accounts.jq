# The demo tenants and accounts of the local stack (jq program; passwords
# come in as --arg values). The same ids are the OIDC subjects and the
# rows of the users table.
{
  tenants: [
    {id: "6f1c3a52-8d0e-4c57-9b7a-3e2d1f0a9b11", slug: "demo", name: "Demo", domains: ["demo.expresso.test"]},
    {id: "b8e4d2c1-5a3f-4e6b-8c9d-0f1e2a3b4c22", slug: "acme", name: "ACME", domains: ["acme.expresso.test"]}
  ],
  users: [
    {id: "ffccd4df-4101-4d16-b091-0dd482c1fd32", tenant: "demo", email: "alice@demo.expresso.test",
     username: "alice", name: "Alice Souza", roles: ["user"], password: $alice, app_password: $alice_app},
    {id: "d8fc9315-27f9-43e0-bb4b-a4b2b91008dd", tenant: "demo", email: "bob@demo.expresso.test",
     username: "bob", name: "Bob Oliveira", roles: ["user"], password: $bob, app_password: $bob_app},
    {id: "ba2073d9-4175-4344-9597-b87d00228145", tenant: "demo", email: "admin@demo.expresso.test",
     username: "admin", name: "Admin Demo", roles: ["user", "tenant_admin", "superadmin"],
     password: $admin, app_password: $admin_app},
    {id: "46649cae-8bfe-4132-ae76-45c0fb585302", tenant: "acme", email: "carol@acme.expresso.test",
     username: "carol", name: "Carol Pereira", roles: ["user"], password: $carol, app_password: $carol_app}
  ]
}
