/**
 * Lua functions the presence scripts share. A registrant (a server, or one incarnation of it on a channel) keeps
 * a hash socket -> user; beside it, a hash user -> number of sockets counts every registrant's sockets, a user
 * being present while the count is above 0. Prepend to a script's source.
 */
export const REGISTRATION_FUNCTIONS = `
-- Takes one socket of user off the count; returns 1 when it was their last.
local function decrement(users, user)
  if redis.call('HINCRBY', users, user, -1) <= 0 then
    redis.call('HDEL', users, user)
    return 1
  end
  return 0
end
-- Registers the socket/user pairs of ARGV from index start (a repeated pair changes nothing, a socket registered
-- under another user moves); returns 1 when a user got their first socket.
local function register(users, sockets, start)
  local first = 0
  for i = start, #ARGV, 2 do
    local socket, user = ARGV[i], ARGV[i + 1]
    local previous = redis.call('HGET', sockets, socket)
    if previous ~= user then
      if previous then decrement(users, previous) end
      redis.call('HSET', sockets, socket, user)
      if redis.call('HINCRBY', users, user, 1) == 1 then first = 1 end
    end
  end
  return first
end
-- Takes every socket of a registrant off the counts and deletes its hash.
local function unregisterAll(users, sockets)
  local registered = redis.call('HGETALL', sockets)
  for i = 2, #registered, 2 do decrement(users, registered[i]) end
  redis.call('DEL', sockets)
end
`
