//! One OpenID provider at run time: discovery, key set, authorization request, token
//! exchange and ID-token verification. OWNER: provider helper.
