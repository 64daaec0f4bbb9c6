// Who is logged in ({user, csrf_token}) and the account's balance, shared by the views.
export const session = { me: null, credits: null, returnTo: null };

export const isAdmin = () => !!(session.me && session.me.user.role === 'admin');
